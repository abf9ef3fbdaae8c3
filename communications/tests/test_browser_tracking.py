"""A recipient's unsubscribe and a marketer's template preview, in a real browser (system
Chromium, Playwright), each page checked with axe-core."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from communications.tests.factories import CommunicationFactory, TemplateFactory
from communications.tracking import unsubscribe_url
from crm.tests.test_browser import PHONE_WIDTH, assert_fits_phone_width
from customers.models import Customer
from customers.tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, PHONE_WIDTH])
def test_a_recipient_unsubscribes_from_the_link_of_an_email(page: Page, live_server, axe, width):
    message = CommunicationFactory(
        customer=CustomerFactory(first_name="Imogen", accepts_email=True),
        status="sent",
    )
    path = unsubscribe_url(message.pk).split("://", 1)[1].split("/", 1)[1]
    page.set_viewport_size({"width": width, "height": 800})

    page.goto(f"{live_server.url}/{path}")
    axe()
    expect(page.get_by_role("heading", name=re.compile("Unsubscribe from"))).to_be_visible()
    expect(page.get_by_text("Imogen")).to_have_count(0)
    assert Customer.objects.get(pk=message.customer_id).accepts_email is True
    if width == PHONE_WIDTH:
        assert_fits_phone_width(page)

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You are unsubscribed")).to_be_visible()
    axe()
    assert Customer.objects.get(pk=message.customer_id).accepts_email is False


def test_a_marketer_previews_a_template_for_a_customer_found_by_name(page: Page, live_server, axe):
    user = UserFactory(username="mia", is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    CustomerFactory(first_name="Quentin", last_name="Blake")
    template = TemplateFactory(
        name="Points reminder",
        channel="sms",
        subject="",
        body="Hi {{ customer.first_name }}, {{ shop_name }} has news.",
    )
    page.emulate_media(reduced_motion="reduce")
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    axe()
    page.get_by_label("Username").fill("mia")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile("/admin/$"))
    axe()

    page.goto(f"{live_server.url}/admin/communications/template/{template.pk}/change/")
    axe()
    expect(page.get_by_text(re.compile(r"characters in GSM-7: 1 message"))).to_be_visible()
    page.get_by_role("link", name="Preview for a customer").click()
    axe()
    page.locator(".select2-selection").first.click()
    page.locator(".select2-search__field").fill("Blake")
    page.get_by_role("option", name=re.compile("Quentin Blake")).click()
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-body")).to_have_text("Hi Quentin, Retail CRM has news.")
    expect(page.locator("#preview-length")).to_contain_text("GSM-7")
    axe()
