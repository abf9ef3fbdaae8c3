"""The analytics scores on the customer page (the "Scores" panel) and the dashboard cards."""

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers import selectors
from customers.analytics import panels
from customers.analytics.scores import score_table_rebuild
from customers.models import AnalyticsRun, Customer
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

SCORED_AT = datetime(2025, 6, 14, 2, 30, tzinfo=UTC)
ANALYTICS_CARDS = ["rfm-segments", "analytics-last-run", "at-risk"]


def score(customer, **fields):
    """Write analytics values the way the nightly run does: with update(), not save(), then
    the searchable copy."""
    fields.setdefault("analytics_at", SCORED_AT)
    Customer.objects.filter(pk=customer.pk).update(**fields)
    score_table_rebuild()


def delivered(customer, days_ago=10, total="50.00"):
    return OrderFactory(
        customer=customer,
        status="delivered",
        placed_at=timezone.now() - timedelta(days=days_ago),
        total=Decimal(total),
    )


def detail(client, customer):
    response = client.get(reverse("customers:detail", args=[customer.pk]))
    assert response.status_code == 200
    return response


def text(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def element_text(html, attribute, value):
    """The visible text of the element carrying ``attribute="value"``, tags stripped."""
    match = re.search(rf'<(\w+)[^>]*\b{attribute}="{value}"', html)
    assert match, f"no {attribute}={value} on the page"
    tag, start = match.group(1), match.start()
    depth, position = 0, start
    pattern = re.compile(rf"<(/?){tag}\b[^>]*>")
    for found in pattern.finditer(html, start):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            position = found.end()
            break
    return text(html[start:position])


def panel_html(response):
    html = response.content.decode()
    start = html.index('id="panel-analytics"')
    end = html.find('<div class="card shadow-sm mb-3"', start)
    return html[start : end if end != -1 else len(html)]


def json_script_data(html, element_id):
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    assert match, f"no #{element_id} on the page"
    return json.loads(match.group(1))


def card_html(html, key):
    start = html.index(f'id="card-{key}"')
    end = html.find("</section>", start)
    return html[start:end]


def dashboard(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    return response


# The customer page -----------------------------------------------------------------------------


def test_panel_shows_every_figure_for_a_scored_customer(client_in_group, settings):
    settings.CRM_CURRENCY = "EUR"
    customer = CustomerFactory()
    delivered(customer)
    score(
        customer,
        rfm_recency=4,
        rfm_frequency=5,
        rfm_monetary=3,
        rfm_segment="Champions",
        churn_risk=0.42,
        p_alive=0.58,
        expected_orders_90d=1.26,
        predicted_clv=Decimal("1234.50"),
    )

    html = panel_html(detail(client_in_group("Support"), customer))

    assert "Scores" in html
    segment = element_text(html, "data-figure", "segment")
    assert "Champions" in segment
    assert "Bought recently and buy often" in segment
    assert element_text(html, "data-figure", "recency").startswith("Recency (R) 4 of 5 5 = ")
    assert element_text(html, "data-figure", "frequency").startswith("Frequency (F) 5 of 5 5 = ")
    assert element_text(html, "data-figure", "monetary").startswith("Monetary (M) 3 of 5 5 = ")
    assert element_text(html, "data-figure", "churn-risk") == (
        "Churn risk 42% · medium Chance this customer has stopped buying, "
        "from how often and how recently they bought."
    )
    assert element_text(html, "data-figure", "p-alive").startswith("Still active 58% Chance ")
    assert element_text(html, "data-figure", "expected-orders").startswith(
        "Expected orders, next 90 days 1.3 How many orders"
    )
    assert element_text(html, "data-figure", "predicted-value").startswith(
        "Predicted value, next 12 months EUR 1,234.50 What they are likely to spend"
    )
    scored = timezone.localtime(SCORED_AT).strftime("%-d %b %Y, %H:%M")
    assert f"Scores last changed {scored}" in element_text(html, "data-figure", "analytics-at")
    assert "Not scored yet" not in html


def test_panel_says_not_scored_yet_before_the_first_run(client_in_group):
    customer = CustomerFactory()
    delivered(customer)

    html = panel_html(detail(client_in_group("Support"), customer))

    assert element_text(html, "data-analytics", "not-scored") == (
        "Not scored yet — scores appear after the nightly analytics run."
    )
    assert "data-figure" not in html


def test_a_scored_customer_without_delivered_orders_is_a_prospect(client_in_group):
    customer = CustomerFactory()
    score(customer, rfm_segment="Prospect")

    html = panel_html(detail(client_in_group("Support"), customer))

    assert "Prospect" in element_text(html, "data-figure", "segment")
    assert "first delivered order" in element_text(html, "data-figure", "prospect")
    assert 'data-figure="churn-risk"' not in html
    assert "Not scored yet" not in html


@pytest.mark.parametrize(
    ("churn_risk", "label", "band", "css_class"),
    [
        (0.0, "0% · low", "low", "text-bg-success"),
        (0.29, "29% · low", "low", "text-bg-success"),
        (0.3, "30% · medium", "medium", "text-bg-warning"),
        (0.59, "59% · medium", "medium", "text-bg-warning"),
        (0.6, "60% · high", "high", "text-bg-danger"),
        (1.0, "100% · high", "high", "text-bg-danger"),
    ],
)
def test_churn_badge_colour_follows_the_band(client_in_group, churn_risk, label, band, css_class):
    customer = CustomerFactory()
    delivered(customer)
    score(customer, rfm_segment="At Risk", churn_risk=churn_risk, p_alive=1 - churn_risk)

    html = panel_html(detail(client_in_group("Support"), customer))

    badge = re.search(r'<span class="badge ([^"]+)" data-churn-band="(\w+)">([^<]+)</span>', html)
    assert badge, "no churn badge"
    assert badge.groups() == (css_class, band, label)


def test_panel_needs_no_query_of_its_own(django_assert_num_queries, rf):
    customer = CustomerFactory()
    score(customer, rfm_segment="Lost", churn_risk=0.9, predicted_clv=Decimal("10.00"))
    customer = Customer.objects.get(pk=customer.pk)

    with django_assert_num_queries(0):
        context = panels.analytics_panel_context(rf.get("/"), customer)

    assert context["segment"] == "Lost"
    assert context["churn"].band == "high"


def test_detail_page_with_the_panel_stays_within_its_query_budget(
    client_in_group, django_assert_max_num_queries
):
    customer = CustomerFactory()
    for days_ago in range(30):
        delivered(customer, days_ago=days_ago)
    score(
        customer,
        rfm_recency=5,
        rfm_frequency=5,
        rfm_monetary=5,
        rfm_segment="Champions",
        churn_risk=0.1,
        p_alive=0.9,
        expected_orders_90d=3.2,
        predicted_clv=Decimal("900.00"),
    )
    client = client_in_group("Support")

    with django_assert_max_num_queries(20):
        response = detail(client, customer)

    assert "analytics" in [panel.key for panel, _ in response.context["panels"]]
    assert "Champions" in panel_html(response)


# Customers per RFM segment ---------------------------------------------------------------------


def test_segment_order_is_the_segment_map_order():
    from customers.analytics.rfm import SEGMENT_MAP

    assert list(panels.SEGMENT_ORDER) == [name for name, _, _ in SEGMENT_MAP]


def test_every_segment_has_a_tone_and_a_description():
    assert set(panels.SEGMENTS) == set(Customer.RfmSegment.values)


def scored_run(**fields):
    """A succeeded run that recorded the segments as they stand, as the nightly run does."""
    return run(
        AnalyticsRun.Status.SUCCEEDED,
        finished_days_ago=0,
        segment_counts=selectors.rfm_segment_tally(),
        **fields,
    )


def test_rfm_chart_counts_customers_per_segment_in_the_map_order(client_in_group):
    for segment, count in (("Lost", 2), ("Champions", 3), ("At Risk", 1), ("Prospect", 4)):
        for _ in range(count):
            score(CustomerFactory(), rfm_segment=segment)
    scored_run()
    CustomerFactory.create_batch(2)  # not scored yet

    html = dashboard(client_in_group("Marketing")).content.decode()

    card = card_html(html, "rfm-segments")
    chart = json_script_data(card, "chart-rfm-data")
    assert chart["labels"] == list(panels.SEGMENT_ORDER)
    counts = dict(zip(chart["labels"], chart["customers"], strict=True))
    assert counts == dict.fromkeys(panels.SEGMENT_ORDER, 0) | {
        "Champions": 3,
        "At Risk": 1,
        "Lost": 2,
    }
    assert chart["urls"][0] == reverse("customers:list") + "?rfm_segment=Champions"
    assert 'id="chart-rfm"' in card
    assert "js/rfm_chart.js" in card
    assert "Show as a table" in card
    assert "4 prospects with no delivered order yet, and 2 customers not scored yet" in text(card)
    assert "Can%27t+Lose+Them" in card  # the table links each segment to the filtered list


def test_rfm_chart_reads_the_counts_the_run_recorded_in_one_query(django_assert_num_queries):
    score(CustomerFactory(), rfm_segment="Champions")
    score(CustomerFactory(), rfm_segment="Hibernating")
    latest = scored_run()
    score(CustomerFactory(), rfm_segment="Champions")  # not through a run: not counted

    with django_assert_num_queries(1):
        counts = panels.rfm_segment_counts(latest, Customer.objects.all())

    assert [row["customers"] for row in counts["segments"]].count(1) == 2
    assert counts["unscored"] == 1  # created after the run


def test_rfm_chart_counts_come_from_the_latest_succeeded_run(client_in_group):
    run(AnalyticsRun.Status.SUCCEEDED, finished_days_ago=2, segment_counts={"Lost": 7})
    run(AnalyticsRun.Status.SUCCEEDED, finished_days_ago=1, segment_counts={"Champions": 5})
    run(AnalyticsRun.Status.FAILED, finished_days_ago=0, segment_counts={"At Risk": 9})

    chart = dashboard(client_in_group("Marketing")).context["rfm_chart"]

    counts = dict(zip(chart["labels"], chart["customers"], strict=True))
    assert (counts["Champions"], counts["Lost"], counts["At Risk"]) == (5, 0, 0)


def test_rfm_chart_waits_for_the_first_run(client_in_group):
    CustomerFactory()

    html = dashboard(client_in_group("Marketing")).content.decode()

    card = card_html(html, "rfm-segments")
    assert 'id="chart-rfm"' not in card
    assert "segments appear after the nightly analytics run" in card


# At risk, by value at stake ----------------------------------------------------------------------


def test_at_risk_ranks_by_churn_risk_times_predicted_value_above_the_threshold(
    client_in_group, settings
):
    settings.CRM_CURRENCY = "USD"

    def at_risk(name, churn_risk, predicted_clv, **fields):
        customer = CustomerFactory(first_name=name, last_name="Test", **fields)
        score(
            customer,
            rfm_segment="At Risk",
            churn_risk=churn_risk,
            predicted_clv=None if predicted_clv is None else Decimal(predicted_clv),
        )
        return customer

    small = at_risk("Small", 0.9, "100.00")  # 90 at stake
    big = at_risk("Big", 0.5, "1000.00")  # 500 at stake, exactly at the threshold
    middle = at_risk("Middle", 0.6, "500.00")  # 300 at stake
    at_risk("Safe", 0.49, "100000.00")  # below the threshold, however valuable
    at_risk("Unvalued", 0.95, None)
    at_risk("Deleted", 0.9, "10000.00", status=Customer.Status.INACTIVE)

    response = dashboard(client_in_group("Marketing"))

    rows = response.context["at_risk_customers"]
    assert [customer.pk for customer in rows] == [big.pk, middle.pk, small.pk]
    assert [customer.value_at_stake.quantize(Decimal("0.01")) for customer in rows] == [
        Decimal("500.00"),
        Decimal("300.00"),
        Decimal("90.00"),
    ]
    card = card_html(response.content.decode(), "at-risk")
    assert "churn risk of 50% or more" in card
    positions = [card.index(reverse("customers:detail", args=[c.pk])) for c in (big, middle, small)]
    assert positions == sorted(positions)
    for name in ("Safe", "Unvalued", "Deleted"):
        assert f"{name} Test" not in card
    assert "USD 1,000.00 USD 500.00" in text(card)  # predicted value, then value at stake


def test_at_risk_links_to_the_list_of_the_same_customers(client_in_group):
    for name, churn_risk in (("Over", 0.8), ("At", 0.5), ("Under", 0.45)):
        score(
            CustomerFactory(first_name=name, last_name="Test"),
            rfm_segment="At Risk",
            churn_risk=churn_risk,
            predicted_clv=Decimal("100.00"),
        )
    client = client_in_group("Marketing")
    card = card_html(dashboard(client).content.decode(), "at-risk")
    link = re.search(r'<a href="([^"]+)">All customers at risk</a>', card).group(1)

    response = client.get(link.replace("&amp;", "&"))

    assert "churn_risk_min=50&" in link.replace("&amp;", "&")  # the list takes percent
    assert not response.context["filter"].form.errors
    assert [c.first_name for c in response.context["customers"]] == ["Over", "At"]


def test_at_risk_shows_ten_customers_with_one_query(django_assert_num_queries):
    for index in range(12):
        score(
            CustomerFactory(),
            rfm_segment="At Risk",
            churn_risk=0.7,
            predicted_clv=Decimal(100 + index),
        )

    with django_assert_num_queries(1):
        rows = list(panels.customers_at_risk(Customer.objects.all()))

    assert len(rows) == 10
    assert rows[0].predicted_clv == Decimal("111.00")


def test_at_risk_says_when_nobody_is_at_risk(client_in_group):
    score(CustomerFactory(), rfm_segment="Lost", churn_risk=0.2, predicted_clv=Decimal("500.00"))

    card = card_html(dashboard(client_in_group("Marketing")).content.decode(), "at-risk")

    assert "No active customer has a churn risk of 50% or more." in text(card)
    assert 'id="at-risk"' not in card


# Last analytics run ---------------------------------------------------------------------------


def run(status, finished_days_ago=None, **fields):
    now = timezone.now()
    finished_at = None if finished_days_ago is None else now - timedelta(days=finished_days_ago)
    return AnalyticsRun.objects.create(
        as_of=(finished_at or now).date(),
        status=status,
        started_at=finished_at or now,
        finished_at=finished_at,
        **fields,
    )


def test_last_run_card_shows_the_latest_succeeded_run(client_in_group):
    Succeeded = AnalyticsRun.Status.SUCCEEDED
    run(Succeeded, finished_days_ago=3, model_name="bgnbd", customers_scored=10)
    latest = run(
        Succeeded,
        finished_days_ago=1,
        model_name="mbgnbd",
        customers_scored=1234,
        customers_with_orders=800,
        fallback_used=True,
        fallback_reason="Only 12 customers with a purchase (the models need 500).",
        duration_seconds=4.25,
    )
    run(AnalyticsRun.Status.FAILED, finished_days_ago=0, error="boom", customers_scored=5)
    run(AnalyticsRun.Status.RUNNING, customers_scored=7)

    response = dashboard(client_in_group("Marketing"))

    assert response.context["run"] == latest
    card = card_html(response.content.decode(), "analytics-last-run")
    finished = timezone.localtime(latest.finished_at).strftime("%-d %b %Y, %H:%M")
    assert finished in card
    assert element_text(card, "data-run", "customers-scored") == "1,234 (800 with orders)"
    assert element_text(card, "data-run", "model") == "MBG/NBD (not used this time)"
    method = element_text(card, "data-run", "method")
    assert "Fallback heuristic" in method
    assert "Only 12 customers with a purchase (the models need 500)." in method
    assert "No run yet" not in card


def test_last_run_card_shows_a_fitted_model(client_in_group):
    run(AnalyticsRun.Status.SUCCEEDED, finished_days_ago=0, model_name="bgnbd")

    card = card_html(dashboard(client_in_group("Marketing")).content.decode(), "analytics-last-run")

    assert element_text(card, "data-run", "model") == "BG/NBD"
    assert element_text(card, "data-run", "method") == "Fitted model"


def test_last_run_card_says_no_run_yet_when_none_succeeded(client_in_group):
    run(AnalyticsRun.Status.FAILED, finished_days_ago=0, error="boom")
    run(AnalyticsRun.Status.RUNNING)
    run(AnalyticsRun.Status.QUEUED)

    response = dashboard(client_in_group("Marketing"))

    assert response.context["run"] is None
    assert "No run yet" in card_html(response.content.decode(), "analytics-last-run")


def test_last_run_is_one_query(django_assert_num_queries):
    run(AnalyticsRun.Status.SUCCEEDED, finished_days_ago=1)

    with django_assert_num_queries(1):
        assert panels.latest_succeeded_run() is not None


# The dashboard as a whole -----------------------------------------------------------------------


def test_analytics_cards_follow_the_existing_customer_cards(client_in_group):
    keys = [card.key for card, _ in dashboard(client_in_group("Marketing")).context["cards"]]

    assert keys[keys.index("top-customers") + 1 :][:3] == ANALYTICS_CARDS


def test_analytics_cards_need_the_view_customer_permission(client_with_perms):
    response = dashboard(client_with_perms("customers.view_note"))

    keys = [card.key for card, _ in response.context["cards"]]
    assert not set(ANALYTICS_CARDS) & set(keys)
    assert "chart-rfm" not in response.content.decode()


def build_scored_shop(customers):
    segments = panels.SEGMENT_ORDER
    for index in range(customers):
        customer = CustomerFactory()
        delivered(customer, days_ago=index + 1, total=f"{100 + index}.00")
        score(
            customer,
            rfm_recency=index % 5 + 1,
            rfm_frequency=(index + 2) % 5 + 1,
            rfm_monetary=(index + 4) % 5 + 1,
            rfm_segment=segments[index % len(segments)],
            churn_risk=(index % 10) / 10,
            p_alive=1 - (index % 10) / 10,
            expected_orders_90d=index / 10,
            predicted_clv=Decimal(50 * index),
        )
    scored_run(customers_scored=customers)


def test_dashboard_queries_do_not_grow_with_scored_customers(
    client_in_group, django_assert_max_num_queries
):
    client = client_in_group("Managers")
    build_scored_shop(15)

    # Session, user, 2 permission look-ups, 6 existing customer cards, the sales rollup the two
    # charts share, the loyalty card and one query for each of the 3 analytics cards.
    with django_assert_max_num_queries(15):
        response = dashboard(client)
    assert len(response.context["at_risk_customers"]) == 5  # risk 0.5 to 0.9: 5 of the 15
    with CaptureQueriesContext(connection) as small:
        dashboard(client)

    build_scored_shop(30)
    with CaptureQueriesContext(connection) as large:
        response = dashboard(client)

    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(response.context["at_risk_customers"]) == 10
    assert sum(response.context["rfm_chart"]["customers"]) == 45


# The dashboard in a browser --------------------------------------------------------------------

DASHBOARD_CHARTS = ("chart-revenue", "chart-new-customers", "chart-rfm")
# Each loyalty figure: its text, the number of lines it takes, and whether it fits its box.
LOYALTY_FIGURES = """() => {
  const figures = document.querySelectorAll("#card-loyalty .kpi-value");
  return [...figures].map((figure) => {
    const text = document.createRange();
    text.selectNodeContents(figure);
    const lines = new Set([...text.getClientRects()].map((rect) => Math.round(rect.top)));
    return [figure.textContent.trim(), lines.size, figure.scrollWidth <= figure.clientWidth];
  });
}"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_dashboard_on_a_phone_defers_its_scripts_and_draws_still_charts(page, live_server, axe):
    """What keeps the charts from blocking a slow phone (Lighthouse's mobile profile measures
    it, docs/accessibility.md): deferred scripts and no animation; and the loyalty figures stay
    whole at phone width."""
    from django.contrib.auth.models import Group

    from customers.tests.factories import UserFactory
    from loyalty import services as loyalty_services
    from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory

    UserFactory(username="morgan").groups.add(Group.objects.get(name="Managers"))
    build_scored_shop(12)
    program = LoyaltyProgramFactory(name="Club")
    account = loyalty_services.loyalty_account_enrol(customer=CustomerFactory(), program=program)
    loyalty_services.loyalty_points_adjust(
        account=account, points=12_345_678, reason="Opening balance", created_by=None
    )
    reward = RewardFactory(program=program, points_cost=1_234_567)
    loyalty_services.loyalty_reward_redeem(account=account, reward=reward)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/accounts/login/")
    axe()
    page.get_by_label("Username").fill("morgan")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_function(
        "(ids) => window.Chart && ids.every((id) => Chart.getChart(id))", arg=DASHBOARD_CHARTS
    )
    axe()

    assert page.evaluate("[...document.scripts].filter((s) => s.src && !s.defer).length") == 0
    for canvas_id in DASHBOARD_CHARTS:
        chart = page.evaluate(
            """(id) => [Chart.getChart(id).options.animation,
                        Chart.getChart(id).data.datasets.flatMap((set) => set.data)]""",
            canvas_id,
        )
        assert chart[0] is False, canvas_id
        assert sum(float(value) for value in chart[1]) > 0, canvas_id
    assert page.evaluate(LOYALTY_FIGURES) == [
        ["1", 1, True],
        ["12,345,678", 1, True],
        ["1,234,567", 1, True],
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
