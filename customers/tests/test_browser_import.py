"""Importing customers in a real browser: a file with one bad row is previewed with the row's
error, the fixed file is previewed and confirmed, and the customers are in the list. Each page is
checked with axe-core."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from crm.tests.test_browser import log_in
from customers.models import Customer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DATA = Path(__file__).parents[2] / "core/tests/data"
IMPORT_PATH = "/admin/customers/customer/import/"


@pytest.fixture
def importer(user_with_perms):
    return user_with_perms(
        "customers.view_customer",
        "customers.add_customer",
        "customers.change_customer",
        username="ida",
    )


def test_import_customers_fix_the_bad_row_and_confirm(page: Page, live_server, axe, importer):
    log_in(page, live_server, axe, "ida", IMPORT_PATH)
    expect(page.get_by_role("heading", name="Import")).to_be_visible()

    page.get_by_label("File to import").set_input_files(DATA / "customers_bad.csv")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_text("row 3, email: 'bob@' is not a valid email address")).to_be_visible()
    expect(page.get_by_role("button", name="Confirm import")).to_have_count(0)
    axe()

    page.get_by_label("File to import").set_input_files(DATA / "customers.csv")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("button", name="Confirm import")).to_be_visible()
    axe()
    assert Customer.objects.count() == 0

    page.get_by_role("button", name="Confirm import").click()
    expect(page.get_by_text("Import finished: 3 new")).to_be_visible()
    for email in ("ana@example.com", "ben@example.com", "chloe@example.com"):
        expect(page.get_by_role("cell", name=email)).to_be_visible()
    axe()
