"""A marketer's journey in a real browser: a campaign to a segment, previewed, sent now (the
task runs eagerly in the server), then its page with the counts."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from playwright.sync_api import Page, expect

from crm.tests.test_browser import PHONE_WIDTH, assert_fits_phone_width, log_in
from customers.tests.factories import CustomerFactory, UserFactory
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(db):
    user = UserFactory(username="mia")
    user.groups.add(Group.objects.get(name="Marketing"))
    return user


def test_create_preview_and_send_a_campaign_then_see_its_counts(
    page: Page, live_server, axe, marketer, settings
):
    settings.CRM_CAMPAIGN_RATE_LIMITS = {"email": 0, "sms": 0}
    segment = SegmentFactory(name="Spring buyers", rules={})
    for index in range(4):
        SegmentMembershipFactory(
            segment=segment, customer=CustomerFactory(first_name=f"Reader{index}")
        )
    SegmentMembershipFactory(segment=segment, customer=CustomerFactory(do_not_contact=True))

    log_in(page, live_server, axe, "mia", "/communications/campaigns/")
    page.get_by_role("link", name="New campaign").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New campaign")
    axe()

    page.get_by_label("Name").fill("Spring sale")
    page.get_by_label("Segment").select_option(label="Spring buyers")
    page.get_by_label("Subject").fill("Spring at {{ shop_name }}")
    page.get_by_label("Message").fill("Hello {{ customer.orders }}")
    page.get_by_role("button", name="Save and preview").click()
    expect(page.locator("#error-summary")).to_be_visible()
    axe()

    page.get_by_label("Message").fill("Hello {{ customer.first_name }}, the sale starts today.")
    page.get_by_role("button", name="Save and preview").click()
    expect(page).to_have_url(re.compile(r"/communications/campaigns/\d+/preview/$"))
    expect(page.locator("#preview-total")).to_have_text("5")
    expect(page.locator("#preview-excluded-do_not_contact")).to_have_text("1")
    expect(page.locator("#preview-receiving")).to_have_text("4")
    axe()

    page.get_by_role("button", name="Send now").click()
    expect(page).to_have_url(re.compile(r"/communications/campaigns/\d+/$"))
    expect(page.locator("#figure-recipients")).to_contain_text("5")
    expect(page.locator("#figure-sent")).to_contain_text("4")
    expect(page.locator("#figure-sent")).to_contain_text("100.0%")
    expect(page.locator("#figure-skipped")).to_contain_text("1")
    expect(page.locator("#recipient-table")).to_contain_text("Reader0")
    axe()
    assert len(mail.outbox) == 4

    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    assert_fits_phone_width(page)
    page.get_by_label("Status").select_option(label="Skipped")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#recipient-table")).to_contain_text("Do not contact")
    axe()
