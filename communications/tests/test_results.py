"""What a campaign earned: attributed orders and revenue, and the comparison with the control
group, checked on constructed examples whose answers are worked out by hand."""

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from communications.attribution import campaign_results
from communications.models import Campaign
from communications.tests.factories import CampaignFactory, CommunicationFactory
from customers.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

SENT = timezone.now().replace(microsecond=0) - timedelta(days=30)
DAY = timedelta(days=1)


def recipients(campaign, count, *, status="delivered", **times):
    return [
        CommunicationFactory(
            campaign=campaign, status=status, queued_at=SENT, sent_at=SENT, **times
        ).customer
        for _ in range(count)
    ]


def held_out(campaign, count):
    """The control group as the send's start draws it: held out, timed by the campaign's start."""
    Campaign.objects.filter(pk=campaign.pk).update(started_at=SENT)
    return [
        CommunicationFactory(campaign=campaign, status="held_out", queued_at=None).customer
        for _ in range(count)
    ]


def buy(customer, total, at=SENT + DAY):
    return OrderFactory(
        customer=customer, status="delivered", placed_at=at, delivered_at=at, total=Decimal(total)
    )


@pytest.fixture
def measured_campaign():
    """100 recipients of whom 20 bought for 50.00 each, and a control group of 50 of whom 5
    bought for 40.00 each, all a day after the send; a failed and a skipped message beside."""
    campaign = CampaignFactory(holdout_percent=33, status="sent", finished_at=SENT)
    sent_to = recipients(campaign, 100)
    control = held_out(campaign, 50)
    CommunicationFactory(campaign=campaign, status="failed", queued_at=SENT, failed_at=SENT)
    CommunicationFactory(
        campaign=campaign, status="skipped", queued_at=SENT, skip_reason="no_consent"
    )
    for customer in sent_to[:20]:
        buy(customer, "50.00")
    for customer in control[:5]:
        buy(customer, "40.00")
    return campaign


def test_the_comparison_with_the_control_group_on_a_worked_example(measured_campaign):
    results = campaign_results(measured_campaign)

    comparison = results["comparison"]
    assert (results["orders"], results["revenue"]) == (20, Decimal("1000.00"))
    sent, control = comparison["recipients"], comparison["control"]
    assert (sent.size, sent.converted, sent.revenue) == (100, 20, Decimal("1000.00"))
    assert (control.size, control.converted, control.revenue) == (50, 5, Decimal("200.00"))
    assert comparison["too_small"] == ""

    # Conversion: 20/100 = 0.20 against 5/50 = 0.10, a difference of 10 points.
    # SE = sqrt(0.2 * 0.8 / 100 + 0.1 * 0.9 / 50) = sqrt(0.0016 + 0.0018) = 0.058310;
    # 95 %: ± 1.959964 * 0.058310 = ± 0.114285, so from -1.43 to +21.43 points.
    conversion = comparison["conversion"]
    assert conversion.value == pytest.approx(10.0)
    assert (conversion.low, conversion.high) == (
        pytest.approx(-1.4285, abs=1e-3),
        pytest.approx(21.4285, abs=1e-3),
    )
    assert "includes zero" in conversion.verdict

    # Revenue per customer: 1000 / 100 = 10.00 against 200 / 50 = 4.00, a difference of 6.00.
    # Variances (non-buyers as 0): (20 * 50² - 1000² / 100) / 99 = 40000 / 99 = 404.0404 and
    # (5 * 40² - 200² / 50) / 49 = 7200 / 49 = 146.9388.
    # Welch: SE² = 404.0404 / 100 + 146.9388 / 50 = 4.040404 + 2.938776 = 6.979180, SE = 2.641814;
    # df = 6.979180² / (4.040404² / 99 + 2.938776² / 49) = 48.70895 / 0.341152 = 142.78;
    # t(0.975, 142.78) = 1.97668, so 6.00 ± 5.2220: from 0.78 to 11.22.
    revenue = comparison["revenue_per_customer"]
    assert revenue.value == pytest.approx(6.0)
    assert (revenue.low, revenue.high) == (
        pytest.approx(0.7780, abs=2e-3),
        pytest.approx(11.2220, abs=2e-3),
    )
    assert "higher for the recipients" in revenue.verdict
    assert math.isclose(sent.revenue_variance, 40000 / 99)


def test_results_are_two_queries_whatever_the_number_of_recipients(
    measured_campaign, assert_queries
):
    with assert_queries(2):
        campaign_results(measured_campaign)


def test_the_comparison_counts_the_same_window_after_each_send():
    """A recipient who clicked late is credited up to the window after the click; the
    comparison counts, for both groups alike, only the window after the send."""
    campaign = CampaignFactory(holdout_percent=10)
    (late,) = recipients(campaign, 1, status="clicked", clicked_at=SENT + 3 * DAY)
    held_out(campaign, 1)

    buy(late, "60.00", at=SENT + 7 * DAY)

    results = campaign_results(campaign)
    assert (results["orders"], results["revenue"]) == (1, Decimal("60.00"))
    assert results["comparison"]["recipients"].converted == 0


def test_a_customer_with_two_orders_converts_once_and_counts_both_in_revenue():
    campaign = CampaignFactory(holdout_percent=10)
    (customer,) = recipients(campaign, 1)
    held_out(campaign, 1)

    buy(customer, "20.00")
    buy(customer, "30.00", at=SENT + 2 * DAY)

    sent = campaign_results(campaign)["comparison"]["recipients"]
    assert (sent.converted, sent.revenue, sent.revenue_squares) == (1, Decimal("50.00"), 2500)


def test_small_groups_are_too_small_to_tell():
    campaign = CampaignFactory(holdout_percent=10)
    sent_to = recipients(campaign, 40)
    control = held_out(campaign, 4)
    buy(sent_to[0], "10.00")
    buy(control[0], "10.00")

    comparison = campaign_results(campaign)["comparison"]

    assert comparison["too_small"].startswith("Too small to tell: a group has 4 customers")
    assert not comparison["conversion"].has_interval
    assert not comparison["revenue_per_customer"].has_interval


def test_too_few_buyers_expected_is_too_small_to_tell():
    campaign = CampaignFactory(holdout_percent=30)
    sent_to = recipients(campaign, 100)
    held_out(campaign, 50)
    buy(sent_to[0], "10.00")  # 1 buyer in 150: the control group would expect 0.3

    comparison = campaign_results(campaign)["comparison"]

    assert "would expect only 0.3" in comparison["too_small"]


def test_a_campaign_without_a_control_group_shows_its_attributed_orders_only():
    campaign = CampaignFactory()
    (customer,) = recipients(campaign, 1)
    buy(customer, "35.00")

    results = campaign_results(campaign)

    assert (results["orders"], results["revenue"], results["comparison"]) == (
        1,
        Decimal("35.00"),
        None,
    )


def test_the_window_is_open_while_orders_can_still_be_credited(settings):
    settings.CRM_ATTRIBUTION_DAYS = 5
    finished = timezone.now() - DAY
    campaign = CampaignFactory(status="sent", finished_at=finished)

    assert campaign_results(campaign)["window_open_until"] == finished + 5 * DAY
    campaign.finished_at = timezone.now() - 6 * DAY
    assert campaign_results(campaign)["window_open_until"] is None


def test_the_partial_says_the_interval_in_words(measured_campaign):
    html = render_to_string(
        "communications/partials/campaign_results.html",
        {"results": campaign_results(measured_campaign)},
    )

    assert "between \N{MINUS SIGN}1.4 and +21.4 points" in html
    assert "between +0.78 and +11.22 USD per customer" in html
    assert "Attributed orders" in html


def test_the_partial_says_plainly_when_it_is_too_small_to_tell():
    campaign = CampaignFactory(holdout_percent=10)
    recipients(campaign, 5)
    held_out(campaign, 1)

    html = render_to_string(
        "communications/partials/campaign_results.html", {"results": campaign_results(campaign)}
    )

    assert "Too small to tell" in html
    assert "between" not in html
