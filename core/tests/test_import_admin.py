"""The import and export admin of every record type, through the library's admin URLs."""

import csv
import io

import openpyxl
import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from customers.models import Customer
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

CUSTOMER_EXPORT_URL = reverse("admin:customers_customer_export")
FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]
CSV, XLSX = "0", "1"


@pytest.fixture
def staff_client(client, user_with_perms):
    client.force_login(
        user_with_perms(
            "customers.view_customer",
            "customers.add_customer",
            "customers.change_customer",
            "customers.view_order",
            "customers.add_order",
            "customers.change_order",
        )
    )
    return client


def export_form(page, file_format=CSV) -> dict:
    """The export form as the page offers it, every column ticked."""
    form = page.context["form"]
    ticked = {name: "on" for name, field in form.fields.items() if "_" in name}
    ticked.pop("export_items", None)
    return {**ticked, "format": file_format, "resource": "0"}


def csv_rows(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def xlsx_rows(response) -> list[list]:
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("start", FORMULA_STARTS, ids=["eq", "plus", "minus", "at", "tab", "cr"])
def test_customer_export_escapes_a_formula_in_csv_and_xlsx(staff_client, start):
    CustomerFactory(first_name=f"{start}SUM(A1:A9)", email="ana@example.com")
    page = staff_client.get(CUSTOMER_EXPORT_URL)

    rows = csv_rows(staff_client.post(CUSTOMER_EXPORT_URL, export_form(page, CSV)))
    sheet = xlsx_rows(staff_client.post(CUSTOMER_EXPORT_URL, export_form(page, XLSX)))

    exported = dict(zip(rows[0], rows[1], strict=True))
    assert exported["first_name"] == f"'{start}SUM(A1:A9)"
    assert exported["email"] == "ana@example.com"
    in_sheet = dict(zip(sheet[0], sheet[1], strict=True))
    # XML reads a carriage return back as a line feed: the quote in front is what matters.
    assert in_sheet["first_name"] == f"'{start}SUM(A1:A9)".replace("\r", "\n")


def test_customer_changelist_offers_import_and_export(staff_client):
    page = staff_client.get(reverse("admin:customers_customer_changelist"))

    assert reverse("admin:customers_customer_import") in page.content.decode()
    assert CUSTOMER_EXPORT_URL in page.content.decode()
    assert "export_admin_action" in page.content.decode()


def test_import_takes_the_add_and_change_permissions(client_with_perms):
    client = client_with_perms("customers.view_customer", "customers.change_customer")

    assert client.get(reverse("admin:customers_customer_import")).status_code == 403


@pytest.mark.parametrize("customers", [2, 9])
def test_customer_export_query_count_does_not_grow_with_rows(
    staff_client, assert_queries, customers
):
    for customer in CustomerFactory.create_batch(customers):
        customer.tags.create(name=f"tag-{customer.pk}", slug=f"tag-{customer.pk}")
    page = staff_client.get(CUSTOMER_EXPORT_URL)
    response = staff_client.post(CUSTOMER_EXPORT_URL, export_form(page))

    # The page count, one chunk of customers, their tags and their default addresses.
    with assert_queries(4):
        rows = csv_rows(response)

    assert len(rows) == customers + 1
    assert rows[1][rows[0].index("tags")].startswith("tag-")
    assert Customer.objects.count() == customers
