"""A segment's journey in a real browser: filter the customer list, save the filters as a
segment, open it and find the same customers. Each page is checked with axe-core."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from crm.tests.test_browser import log_in
from customers.tests.factories import CustomerFactory, UserFactory
from segments.models import Segment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketing_user(db):
    user = UserFactory(username="mia")
    user.groups.add(Group.objects.get(name="Marketing"))
    return user


def test_save_the_customer_lists_filters_as_a_segment(page: Page, live_server, axe, marketing_user):
    for name in ("Ada", "Grace"):
        CustomerFactory(first_name=name, last_name="Suspended", status="suspended")
    CustomerFactory(first_name="Alan", last_name="Active", total_spent=Decimal("10.00"))

    log_in(page, live_server, axe, "mia", "/customers/")
    page.get_by_label("Status").select_option("suspended")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"status=suspended"))
    expect(page.locator("#customer-count")).to_have_text("2 customers")
    axe()

    page.get_by_role("link", name="Save these filters as a segment").click()
    expect(page.locator("#segment-rules")).to_have_text("Status is Suspended")
    axe()
    page.get_by_label("Name").fill("Suspended customers")
    page.get_by_role("button", name="Save segment").click()

    segment = Segment.objects.get(name="Suspended customers")
    expect(page).to_have_url(re.compile(rf"/segments/{segment.slug}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Suspended customers")
    table = page.locator("#customer-table")
    expect(table.get_by_role("link", name="Ada Suspended")).to_be_visible()
    expect(table.get_by_role("link", name="Grace Suspended")).to_be_visible()
    expect(table.get_by_role("link", name=re.compile("Alan"))).to_have_count(0)
    axe()

    page.get_by_role("link", name="Segments", exact=True).first.click()
    expect(page.get_by_role("link", name="Suspended customers")).to_be_visible()
    axe()
