"""What a campaign earned, on its page, in the browser (Chromium, Playwright), checked with
axe-core at desktop and phone width."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from playwright.sync_api import Page, expect

from communications.tests.factories import CampaignFactory, CommunicationFactory
from crm.tests.test_browser import PHONE_WIDTH, assert_fits_phone_width, log_in
from customers.tests.factories import OrderFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def measured_campaign():
    """40 recipients of whom 8 bought, 30 held out of whom 2 bought, a day after the send."""
    sent = timezone.now() - timedelta(days=30)
    campaign = CampaignFactory(
        name="Win-back", holdout_percent=10, status="sent", started_at=sent, finished_at=sent
    )
    for index in range(40):
        customer = CommunicationFactory(
            campaign=campaign, status="delivered", queued_at=sent, sent_at=sent
        ).customer
        if index < 8:
            OrderFactory(
                customer=customer,
                status="delivered",
                delivered_at=sent + timedelta(days=1),
                total=Decimal("60.00"),
            )
    for index in range(30):
        customer = CommunicationFactory(
            campaign=campaign, status="held_out", queued_at=None
        ).customer
        if index < 2:
            OrderFactory(
                customer=customer,
                status="delivered",
                delivered_at=sent + timedelta(days=1),
                total=Decimal("40.00"),
            )
    return campaign


@pytest.mark.parametrize("width", [1280, PHONE_WIDTH])
def test_a_marketer_reads_what_a_campaign_earned(
    page: Page, live_server, axe, measured_campaign, width
):
    user = UserFactory(username="mia")
    user.groups.add(Group.objects.get(name="Marketing"))
    page.set_viewport_size({"width": width, "height": 900})

    log_in(page, live_server, axe, "mia", f"/communications/campaigns/{measured_campaign.pk}/")

    results = page.locator("#campaign-results")
    expect(results.locator("[data-results=orders]")).to_contain_text("8")
    expect(results.locator("[data-results=revenue]")).to_contain_text("480.00")
    expect(results.locator("[data-results=comparison]")).to_contain_text("8 (20.0%)")
    expect(results.locator("[data-results=too-small]")).to_contain_text("Too small to tell")
    axe()
    if width == PHONE_WIDTH:
        assert_fits_phone_width(page)
