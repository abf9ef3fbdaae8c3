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
# The file's headings ("External ID"…) as the import names its columns.
HEADINGS = ["external_id", "first_name", "last_name", "email", "phone", "tags"]


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
    # The table numbers the row as the message does, and the file's cells sit under its headings.
    errors = page.locator("table.import-preview")
    expect(errors.locator("tbody tr").first.locator("td").first).to_have_text("3")
    expect(errors.locator("thead th")).to_have_text(["Row", "Errors", *HEADINGS])
    axe()
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # the table scrolls
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_label("File to import").set_input_files(DATA / "customers.csv")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("button", name="Confirm import")).to_be_visible()
    # The preview shows each row as the file has it.
    expect(page.locator("table.import-preview thead th")).to_have_text(["", *HEADINGS])
    expect(page.get_by_role("cell", name="ana@example.com")).to_be_visible()
    axe()
    assert Customer.objects.count() == 0

    page.get_by_role("button", name="Confirm import").click()
    expect(page.get_by_text("Import finished: 3 new")).to_be_visible()
    for email in ("ana@example.com", "ben@example.com", "chloe@example.com"):
        expect(page.get_by_role("cell", name=email)).to_be_visible()
    axe()
