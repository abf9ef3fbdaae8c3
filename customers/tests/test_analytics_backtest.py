"""The backtest of each analytics run (customers.analytics.backtest).

On the CDNOW sample, ``analytics_run --as-of 1998-06-30 --backtest-days 273`` calibrates on
1997-09-30, the end of the published 39-week calibration period: the fitted BG/NBD parameters
are the published estimates, and the predicted holdout purchases are the sum of the published
model's conditional expectations, computed here from the closed form (Fader, Hardie & Lee 2005,
equation 10), not by the code under test.
"""

from datetime import date
from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from scipy.special import hyp2f1

from customers.analytics.backtest import auc, calibration_groups
from customers.analytics.backtest_report import backtest_sentence
from customers.analytics.run import analytics_run
from customers.models import AnalyticsRun

pytestmark = pytest.mark.django_db

AS_OF = date(1998, 6, 30)
CALIBRATION_END = date(1997, 9, 30)
HOLDOUT = 273  # days: the 39 weeks from 1997-10-01 to 1998-06-30
# Fader, Hardie & Lee (2005), table 1: r, alpha (weeks), a, b.
PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def cohort_histories(rows):
    """Each customer who had bought by the calibration end: their purchase days up to it and
    the purchase days in the holdout, from the file."""
    days: dict[str, set[date]] = {}
    for row in rows:
        days.setdefault(row["customer_id"], set()).add(date.fromisoformat(row["order_date"]))
    histories = []
    for bought in days.values():
        before = sorted(day for day in bought if day <= CALIBRATION_END)
        after = {day for day in bought if CALIBRATION_END < day <= AS_OF}
        if before:
            histories.append((before, after))
    return histories


def bgnbd_conditional_expectation(params, t, x, t_x, T):
    """E[X(t) | x, t_x, T] of the BG/NBD model, time in weeks (equation 10 of the paper)."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    z = t / (alpha + T + t)
    numerator = (a + b + x - 1) / (a - 1)
    numerator *= 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(
        r + x, b + x, a + b + x - 1, z
    )
    denominator = 1 + (x > 0) * a / (b + x - 1 + (x == 0)) * ((alpha + T) / (alpha + t_x)) ** (
        r + x
    )
    return numerator / denominator


def test_the_cdnow_backtest_reproduces_the_published_model(cdnow):
    out = StringIO()
    call_command(
        "analytics_run",
        "--as-of",
        AS_OF.isoformat(),
        "--backtest-days",
        str(HOLDOUT),
        "--model",
        "bgnbd",
        stdout=out,
    )

    figures = AnalyticsRun.objects.get().backtest
    assert figures["calibration_end"] == "1997-09-30"
    assert figures["holdout_days"] == HOLDOUT and figures["model"] == "bgnbd"
    histories = cohort_histories(cdnow)
    assert figures["customers"] == len(histories) == 2357
    fitted = figures["parameters"]
    for name, published in PUBLISHED.items():
        value = fitted[name] / 7 if name == "alpha" else fitted[name]  # fitted in days
        assert value == pytest.approx(published, rel=0.01), (name, fitted)

    weeks = 7.0
    x = np.array([len(before) - 1 for before, _ in histories], dtype=float)
    t_x = np.array([(before[-1] - before[0]).days for before, _ in histories]) / weeks
    T = np.array([(CALIBRATION_END - before[0]).days for before, _ in histories]) / weeks
    expected = bgnbd_conditional_expectation(PUBLISHED, HOLDOUT / weeks, x, t_x, T)
    assert figures["predicted_purchases"] == pytest.approx(expected.sum(), rel=0.01)

    actual = sum(len(after) for _, after in histories)
    assert figures["actual_purchases"] == actual
    # Churn risk is 1 - P(alive); the pairs of a customer who did not buy in the holdout and
    # one who did, counted one by one: how often the first has the higher risk (ties a half).
    alive = 1 / (
        1
        + (x > 0)
        * PUBLISHED["a"]
        / (PUBLISHED["b"] + x - 1 + (x == 0))
        * ((PUBLISHED["alpha"] + T) / (PUBLISHED["alpha"] + t_x)) ** (PUBLISHED["r"] + x)
    )
    bought = np.array([bool(after) for _, after in histories])
    risk_idle, risk_buyer = 1 - alive[~bought], 1 - alive[bought]
    pairs = risk_idle[:, None] - risk_buyer[None, :]
    ranked = ((pairs > 0).sum() + 0.5 * (pairs == 0).sum()) / pairs.size
    assert figures["auc_churn"] == pytest.approx(ranked, abs=0.01)
    groups = figures["calibration"]
    assert [group["group"] for group in groups] == list(range(1, 11))
    assert sum(group["customers"] for group in groups) == 2357
    predicted_means = [group["predicted"] for group in groups]
    assert predicted_means == sorted(predicted_means)
    total = sum(group["customers"] * group["actual"] for group in groups)
    assert total == pytest.approx(actual, rel=1e-3)
    assert figures["mean_absolute_error"] > 0 and figures["seconds"] >= 0
    assert "backtest" in AnalyticsRun.objects.get().step_timings
    assert f"Backtest: Last {HOLDOUT} days: predicted" in out.getvalue()


def test_auc_counts_the_pairs_ranked_right_and_half_the_ties():
    # Positives 0.9 and 0.3 against negatives 0.8 and 0.1: three of four pairs in order.
    assert auc([0.9, 0.8, 0.3, 0.1], [True, False, True, False]) == 0.75
    assert auc([0.2, 0.9], [False, True]) == 1.0
    assert auc([0.9, 0.2], [False, True]) == 0.0
    assert auc([0.5, 0.5, 0.5], [True, False, False]) == 0.5
    assert auc([0.5, 0.7], [True, True]) is None


def test_calibration_groups_sort_by_prediction_into_ten_equal_groups():
    predicted = np.arange(20, 0, -1, dtype=float)  # 20, 19, ..., 1
    actual = predicted * 2

    groups = calibration_groups(predicted, actual)

    assert [group["customers"] for group in groups] == [2] * 10
    assert groups[0] == {"group": 1, "customers": 2, "predicted": 1.5, "actual": 3.0}
    assert groups[-1] == {"group": 10, "customers": 2, "predicted": 19.5, "actual": 39.0}
    assert len(calibration_groups([1.0, 2.0, 3.0], [0, 1, 1])) == 3


def test_the_sentence_gives_the_totals_their_difference_and_the_ranking():
    figures = {
        "holdout_days": 90,
        "predicted_purchases": 1204.4,
        "actual_purchases": 1312,
        "auc_churn": 0.7132,
    }

    assert backtest_sentence(figures) == (
        "Last 90 days: predicted 1,204 repeat purchases, 1,312 happened (\u22128%). "
        "Churn risk ranks correctly 71% of the time."
    )
    assert backtest_sentence({}) == ""


def test_too_little_history_is_said_instead(cdnow):
    # The sample's customers made their first purchases from 1997-01-01.
    run = analytics_run(as_of=AS_OF, model="bgnbd", backtest_days=546)

    assert run.backtest["customers"] == 0
    assert run.backtest["skipped"].startswith("Only 0 customers had bought by 1996-12-31")
    assert "predicted_purchases" not in run.backtest
    assert backtest_sentence(run.backtest).startswith("No backtest: Only 0 customers")


def test_no_backtest_when_its_days_are_zero(cdnow):
    run = analytics_run(as_of=AS_OF, model="bgnbd", backtest_days=0)

    assert run.backtest == {}
    assert "backtest" not in run.step_timings


# Showing it ----------------------------------------------------------------------------------

FIGURES = {
    "holdout_days": 90,
    "calibration_end": "2026-08-30",
    "model": "mbgnbd",
    "parameters": {"r": 0.5, "alpha": 20.0, "a": 0.8, "b": 2.5},
    "customers": 1500,
    "predicted_purchases": 1204.4,
    "actual_purchases": 1312,
    "mean_absolute_error": 0.4321,
    "auc_churn": 0.7132,
    "calibration": [
        {"group": n, "customers": 150, "predicted": n / 10, "actual": n / 9} for n in range(1, 11)
    ],
    "seconds": 1.5,
}
SENTENCE = (
    "Last 90 days: predicted 1,204 repeat purchases, 1,312 happened (\u22128%). "
    "Churn risk ranks correctly 71% of the time."
)


def finished_run(backtest):
    from django.utils import timezone

    now = timezone.now()
    return AnalyticsRun.objects.create(
        as_of=now.date(),
        status=AnalyticsRun.Status.SUCCEEDED,
        started_at=now,
        finished_at=now,
        backtest=backtest,
    )


def test_the_staff_page_shows_the_last_runs_backtest(client_with_perms, assert_queries):
    from django.urls import reverse

    finished_run(FIGURES)
    client = client_with_perms("customers.view_customer")

    # The session, the user with their permissions (core.auth), the last run.
    with assert_queries(3):
        response = client.get(reverse("customers:backtest"))

    html = response.content.decode()
    assert SENTENCE in html
    assert html.count("<tr><td>") == 10
    assert response.context["backtest_chart"]["actual"][0] == pytest.approx(1 / 9)
    assert "the run in the admin" not in html  # no permission to view runs


def test_the_staff_page_says_why_there_is_no_backtest(client_with_perms):
    from django.urls import reverse

    client = client_with_perms("customers.view_customer")
    assert "No analytics run yet" in client.get(reverse("customers:backtest")).content.decode()
    finished_run({"holdout_days": 90, "customers": 3, "skipped": "Only 3 customers had bought."})
    assert (
        "Only 3 customers had bought." in client.get(reverse("customers:backtest")).content.decode()
    )


def test_the_runs_admin_page_shows_the_figures_the_chart_and_its_table(admin_client):
    from django.urls import reverse

    run = finished_run(FIGURES)

    html = admin_client.get(reverse("admin:customers_analyticsrun_change", args=[run.pk])).content
    html = html.decode()
    assert SENTENCE in html
    assert 'id="chart-backtest-data"' in html and "js/backtest_chart.js" in html
    assert html.count("<tr><td>") >= 10
    assert "0.432 purchases" in html


def test_the_dashboard_card_and_the_scores_panel_link_to_it(client_in_group):
    from django.urls import reverse

    from customers.tests.factories import CustomerFactory

    finished_run(FIGURES)
    client = client_in_group("Support")
    customer = CustomerFactory()
    scored = type(customer).objects.filter(pk=customer.pk)
    scored.update(analytics_at=customer.created_at, rfm_segment="champions")

    dashboard = client.get(reverse("home")).content.decode()
    page = client.get(reverse("customers:detail", args=[customer.pk])).content.decode()

    backtest_url = reverse("customers:backtest")
    assert SENTENCE in dashboard and f'href="{backtest_url}"' in dashboard
    assert 'data-figure="backtest-link"' in page and f'href="{backtest_url}"' in page


def test_a_failing_backtest_leaves_the_nights_scores(cdnow, monkeypatch):
    from customers.analytics import backtest

    def broken(**kwargs):
        raise FloatingPointError("overflow")

    monkeypatch.setattr(backtest, "backtest", broken)

    run = analytics_run(as_of=AS_OF, model="bgnbd", backtest_days=HOLDOUT)

    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.backtest["skipped"] == "The backtest failed (FloatingPointError: overflow)."
    assert run.customers_with_orders == 2357
