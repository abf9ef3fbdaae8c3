"""Support's journeys in a real browser: log a call from a customer's page and find it in the
panel and on the log page; open a ticket, reply to it and resolve it. Every page and htmx
update is checked with axe-core."""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from communications.models import Communication, Ticket
from crm.tests.test_browser import (
    PHONE_WIDTH,
    assert_fits_phone_width,
    live_region,
    log_in,
    settled,
)
from customers.tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def support_user(db):
    user = UserFactory(username="sam")
    user.groups.add(Group.objects.get(name="Support"))
    return user


def test_log_a_call_and_find_it_in_the_panel_and_on_the_log_page(
    page: Page, live_server, axe, support_user
):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")

    log_in(page, live_server, axe, "sam", f"/customers/{customer.pk}/")
    panel = page.locator("#communications-panel")
    expect(panel.get_by_text("No contacts yet.")).to_be_visible()
    panel.get_by_text("Log a contact").click()
    panel.get_by_label("Channel").select_option(label="Call")
    panel.get_by_label("Subject").fill("Red boots in size 38")
    panel.get_by_label("What was said").fill("Told her they came in; she will pick them up.")
    panel.get_by_role("button", name="Log contact").click()

    expect(live_region(page)).to_have_text("Call logged")
    panel = page.locator("#communications-panel")
    expect(panel.get_by_text("Red boots in size 38")).to_be_visible()
    logged = Communication.objects.get(customer=customer)
    expect(page.locator(f"#contact-{logged.pk}-contact")).to_be_focused()
    settled(page)
    axe()

    page.reload()
    expect(page.locator("#timeline")).to_contain_text("Call to the customer (follow-up, delivered)")
    axe()

    panel.get_by_role("link", name="All contacts").click()
    expect(page).to_have_url(re.compile(rf"/communications/\?customer={customer.pk}$"))
    expect(page.locator("#log-table")).to_contain_text("Ada Lovelace")
    expect(page.locator("#log-count")).to_contain_text("1 contact")
    axe()

    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    assert_fits_phone_width(page)


def test_a_refused_contact_is_told_at_its_field(page: Page, live_server, axe, support_user):
    customer = CustomerFactory()

    log_in(page, live_server, axe, "sam", f"/customers/{customer.pk}/")
    panel = page.locator("#communications-panel")
    panel.get_by_text("Log a contact").click()
    panel.get_by_label("Direction").select_option(label="Inbound")
    panel.get_by_label("Status").select_option(label="Failed")
    panel.get_by_role("button", name="Log contact").click()

    expect(live_region(page)).to_have_text("The contact was not logged")
    status = page.locator("#communications-panel").get_by_label("Status")
    expect(status).to_be_focused()
    expect(page.locator("#communications-panel")).to_contain_text(
        "A logged inbound contact is delivered, replied."
    )
    settled(page)
    axe()
    assert not Communication.objects.exists()


def test_open_a_ticket_reply_and_resolve_it(page: Page, live_server, axe, support_user):
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")

    log_in(page, live_server, axe, "sam", f"/customers/{customer.pk}/")
    page.get_by_role("link", name="New ticket").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New ticket for Grace Hopper")
    axe()
    page.get_by_label("Subject").fill("The heel broke")
    page.get_by_label("What the customer asked").fill("The heel of my boot broke after a week.")
    page.get_by_label("Assignee").select_option(label="sam")
    page.get_by_role("button", name="Open ticket").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("The heel broke")
    expect(page.locator("#ticket-messages")).to_contain_text("The heel of my boot broke")
    axe()

    page.get_by_role("textbox", name="Message").fill("A new pair is on its way.")
    page.get_by_role("button", name="Add message").click()
    expect(page.get_by_text("Message added. The ticket is pending.")).to_be_visible()
    expect(page.locator("#ticket-messages")).to_contain_text("A new pair is on its way.")
    axe()

    page.locator("#status-form").get_by_label("Status").select_option(label="Resolved")
    page.get_by_role("button", name="Change status").click()
    expect(page.get_by_text("The ticket is resolved.")).to_be_visible()
    expect(page.locator("#ticket-summary")).to_contain_text("Resolved")
    axe()
    assert Ticket.objects.get().status == Ticket.Status.RESOLVED

    page.get_by_role("link", name="Tickets", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tickets")
    axe()
    page.get_by_label("My tickets only").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#ticket-rows")).to_contain_text("The heel broke")
    axe()
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    assert_fits_phone_width(page)
