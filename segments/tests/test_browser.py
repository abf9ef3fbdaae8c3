"""A segment's journey in a real browser: filter the customer list, save the filters as a
segment, open it and find the same customers. Each page is checked with axe-core."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import Page, expect

from crm.tests.test_browser import live_region, log_in, settled
from customers.tests.factories import CustomerFactory, TagFactory, UserFactory
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


def test_build_a_segment_row_by_row_with_a_live_count_then_tag_its_members(
    page: Page, live_server, axe, marketing_user, settings
):
    ada = CustomerFactory(first_name="Ada", last_name="Active", total_spent=Decimal("900.00"))
    TagFactory(name="Winter sale")
    CustomerFactory(
        first_name="Sue", last_name="Suspended", status="suspended", total_spent=Decimal("800.00")
    )
    CustomerFactory(first_name="Tim", last_name="Thrifty", total_spent=Decimal("10.00"))

    log_in(page, live_server, axe, "mia", "/segments/")
    page.get_by_role("link", name="New segment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New segment")
    axe()
    page.get_by_label("Name").fill("Big active spenders")

    # The first row: choosing its field redraws it with the field's comparisons.
    first = page.locator("#condition-1")
    first.get_by_label("Field").select_option(label="Total spent")
    expect(first.get_by_label("Comparison")).to_contain_text("is at least")
    settled(page)
    expect(first.get_by_label("Field")).to_be_focused()
    axe()
    first.get_by_label("Comparison").select_option(label="is at least")
    settled(page)
    axe()
    first.get_by_label("Value").fill("500")
    expect(page.locator("#builder-count")).to_have_text("2 customers match, counted just now.")
    expect(live_region(page)).to_have_text("2 customers match")
    settled(page)
    axe()

    # A second row narrows the count; focus goes to its field.
    page.get_by_role("button", name="Add a condition").click()
    second = page.locator("#condition-2")
    expect(second.get_by_label("Field")).to_be_focused()
    settled(page)
    axe()
    second.get_by_label("Field").select_option(label="Status")
    expect(second.get_by_label("Value")).to_contain_text("Suspended")
    settled(page)
    axe()
    second.get_by_label("Value").select_option(label="Active")
    expect(page.locator("#builder-count")).to_have_text("1 customer matches, counted just now.")
    settled(page)
    axe()

    # A third row added by mistake, and removed.
    page.get_by_role("button", name="Add a condition").click()
    expect(page.locator("#condition-3")).to_be_visible()
    settled(page)
    axe()
    page.get_by_role("button", name="Remove condition 3").click()
    expect(page.locator("#condition-3")).to_have_count(0)
    expect(live_region(page)).to_have_text("Condition 3 removed. 1 customer matches")
    expect(page.get_by_role("button", name="Add a condition")).to_be_focused()
    settled(page)
    axe()

    page.get_by_role("button", name="Save segment").click()
    segment = Segment.objects.get(name="Big active spenders")
    expect(page).to_have_url(re.compile(rf"/segments/{segment.slug}/$"))
    expect(page.locator("#segment-rules")).to_have_text("Total spent ≥ 500 and status is Active")
    table = page.locator("#customer-table")
    expect(table.get_by_role("link", name="Ada Active")).to_be_visible()
    expect(table.get_by_role("link", name=re.compile("Sue|Tim"))).to_have_count(0)
    axe()

    page.get_by_role("link", name="Edit rules").click()
    expect(page.locator("#condition-2").get_by_label("Value")).to_have_value("active")
    expect(page.locator("#builder-count")).to_have_text("1 customer matches, counted just now.")
    axe()

    # Back on the members: tick Ada and tag her, at once (one customer).
    page.get_by_role("link", name="Big active spenders").click()
    axe()
    page.get_by_label("Tick Ada Active").check()
    page.get_by_role("button", name="Act on the ticked customers").click()
    expect(page.locator("#bulk-scope")).to_contain_text("1 ticked customer")
    axe()
    page.get_by_label("Add a tag").check()
    page.get_by_label("Tag", exact=True).select_option(label="Winter sale")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#bulk-action-status")).to_have_text("Done")
    expect(page.get_by_role("alert").first).to_contain_text("Tag “Winter sale” added to 1 customer")
    axe()
    assert list(ada.tags.values_list("name", flat=True)) == ["Winter sale"]

    # All members, in the background this time: the action's page shows it done.
    settings.CRM_SEGMENT_BULK_INLINE_LIMIT = 0
    page.get_by_role("link", name="Back to the members").click()
    axe()
    page.get_by_role("button", name="Act on all members").click()
    expect(page.locator("#bulk-scope")).to_contain_text("every member")
    axe()
    page.get_by_label("Remove a tag").check()
    page.get_by_label("Tag", exact=True).select_option(label="Winter sale")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#bulk-action-result")).to_have_text(
        "Tag “Winter sale” taken off 1 customer; the others did not have it."
    )
    axe()
    assert not ada.tags.exists()
