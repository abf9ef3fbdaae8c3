"""The import and export admin of every record type, through the library's admin URLs."""

import csv
import io
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.http import StreamingHttpResponse
from django.urls import reverse

from core.models import ImportJob
from customers.models import Customer, Order
from customers.tests.factories import CustomerFactory, OrderFactory

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
    assert response.streaming  # sent from its temporary file, never built in memory
    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
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

    # On PostgreSQL one COPY of a SELECT joining the tags and the default address; elsewhere
    # the page count, one chunk of customers, their tags and their default addresses.
    with assert_queries(1 if connection.vendor == "postgresql" else 4):
        rows = csv_rows(response)

    assert len(rows) == customers + 1
    assert rows[1][rows[0].index("tags")].startswith("tag-")
    assert Customer.objects.count() == customers


# The two-step import: upload, preview, confirm ------------------------------------------------

DATA = Path(__file__).parent / "data"
CUSTOMER_IMPORT_URL = reverse("admin:customers_customer_import")
CUSTOMER_CONFIRM_URL = reverse("admin:customers_customer_process_import")
ORDER_IMPORT_URL = reverse("admin:customers_order_import")
ORDER_CONFIRM_URL = reverse("admin:customers_order_process_import")


def upload(client, url, file_name, **choices):
    data = (DATA / file_name).read_bytes()
    attached = SimpleUploadedFile(file_name, data, content_type="text/csv")
    return client.post(url, {"resource": "0", "format": "0", "import_file": attached, **choices})


def confirm(client, url, preview):
    form = preview.context["confirm_form"]
    return client.post(url, {name: value for name, value in form.initial.items() if value})


def page_messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_customers_preview_shows_new_updated_and_unchanged_then_confirm_writes(staff_client):
    CustomerFactory(
        external_id="ext-1",
        first_name="Ana",
        last_name="Silva",
        email="ana@example.com",
        phone="+14155550101",
    ).tags.create(name="VIP", slug="vip")
    CustomerFactory(external_id="ext-2", first_name="Benjamin", email="ben@example.com")

    preview = upload(staff_client, CUSTOMER_IMPORT_URL, "customers.csv")

    assert preview.status_code == 200
    totals = preview.context["result"].totals
    assert (totals["new"], totals["update"], totals["skip"]) == (1, 1, 1)
    assert Customer.objects.count() == 2
    assert "Confirm import" in preview.content.decode()

    done = confirm(staff_client, CUSTOMER_CONFIRM_URL, preview)

    assert done.status_code == 302
    assert Customer.objects.get(external_id="ext-2").first_name == "Ben"
    chloe = Customer.objects.get(external_id="ext-3")
    assert sorted(chloe.tags.values_list("name", flat=True)) == ["Newsletter", "VIP"]


def test_a_file_with_an_error_is_previewed_by_row_and_column_and_imports_nothing(staff_client):
    preview = upload(staff_client, CUSTOMER_IMPORT_URL, "customers_bad.csv")

    assert preview.status_code == 200
    assert "row 3, email: 'bob@' is not a valid email address" in page_messages(preview)
    assert preview.context.get("confirm_form") is None
    # Confirming the stored file anyway (a forged form) writes nothing either.
    stored = preview.context["form"].cleaned_data["import_file"].tmp_storage_name
    forged = staff_client.post(
        CUSTOMER_CONFIRM_URL,
        {"import_file_name": stored, "original_file_name": "customers_bad.csv", "format": "0"},
        follow=True,
    )
    assert forged.status_code == 200
    assert Customer.objects.count() == 0
    assert "row 3, email: 'bob@' is not a valid email address" in page_messages(forged)


def test_the_valid_rows_choice_writes_them_and_gives_the_rest_back(staff_client):
    preview = upload(staff_client, CUSTOMER_IMPORT_URL, "customers_bad.csv", keep_valid_rows="on")

    done = confirm(staff_client, CUSTOMER_CONFIRM_URL, preview)

    assert done["Content-Type"] == "text/csv; charset=utf-8"
    rejected = list(csv.reader(io.StringIO(done.content.decode(), newline="")))
    assert rejected[0] == [
        "External ID",
        "First Name",
        "Last Name",
        "Email",
        "Phone",
        "Tags",
        "error",
    ]
    assert [row[0] for row in rejected[1:]] == ["ext-2"]
    assert "row 3, email: 'bob@' is not a valid email address" in rejected[1][-1]
    assert sorted(Customer.objects.values_list("external_id", flat=True)) == ["ext-1", "ext-3"]


@pytest.mark.parametrize(
    ("file_name", "message"),
    [
        ("customers.xlsx", "This file is not a CSV file"),
        ("empty.csv", "The submitted file is empty."),
        ("customers_header_only.csv", "The file has a header row but no data rows."),
    ],
)
def test_a_file_that_cannot_be_imported_gets_a_clear_message(staff_client, file_name, message):
    page = upload(staff_client, CUSTOMER_IMPORT_URL, file_name)

    assert page.status_code == 200
    assert message in page.content.decode()
    assert Customer.objects.count() == 0


def test_orders_import_links_customers_and_counts_delivered_ones(staff_client):
    ana = CustomerFactory(external_id="ext-1")
    CustomerFactory(email="ben@example.com")

    preview = upload(staff_client, ORDER_IMPORT_URL, "orders.csv")
    result = preview.context["result"]
    assert result.totals["new"] == 2
    # The preview shows each row as the file has it, under the file's own headings.
    headings, first_row = list(csv.reader(io.StringIO((DATA / "orders.csv").read_text())))[:2]
    assert result.diff_headers == headings
    assert result.valid_rows()[0].diff == first_row
    confirm(staff_client, ORDER_CONFIRM_URL, preview)

    assert Order.objects.count() == 2
    ana.refresh_from_db()
    assert (ana.order_count, ana.total_spent) == (1, Decimal("45.00"))


def test_an_order_for_an_unknown_customer_is_named_and_nothing_imported(staff_client):
    CustomerFactory(external_id="ext-1")

    preview = upload(staff_client, ORDER_IMPORT_URL, "orders_bad.csv")

    assert any(line.startswith("row 3, customer:") for line in page_messages(preview))
    assert preview.context.get("confirm_form") is None
    assert Order.objects.count() == 0


# Big files run as jobs -----------------------------------------------------------------------


@pytest.fixture
def job_client(client, user_with_perms):
    client.force_login(
        user_with_perms(
            "customers.view_customer",
            "customers.add_customer",
            "customers.change_customer",
            "core.view_importjob",
        )
    )
    return client


def test_a_file_over_the_threshold_is_confirmed_then_runs_as_a_job(
    job_client, settings, django_capture_on_commit_callbacks
):
    settings.CRM_IMPORT_JOB_THRESHOLD = 2

    preview = upload(job_client, CUSTOMER_IMPORT_URL, "customers.csv")

    assert preview.context["confirm_form"].initial["in_background"] is True
    assert any("3 rows, more than 2" in line for line in page_messages(preview))
    assert Customer.objects.count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        started = confirm(job_client, CUSTOMER_CONFIRM_URL, preview)

    job = ImportJob.objects.get()
    assert started["Location"] == reverse("admin:core_importjob_change", args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.rows_new, job.created_by_id) == (
        "succeeded",
        3,
        started.wsgi_request.user.pk,
    )
    assert job.resource == "customers.resources.CustomerResource"
    assert Customer.objects.count() == 3
    page = job_client.get(started["Location"])
    assert "<progress" in page.content.decode()


def test_any_file_runs_as_a_job_when_the_user_asks(job_client, django_capture_on_commit_callbacks):
    preview = upload(job_client, CUSTOMER_IMPORT_URL, "customers.csv", in_background="on")

    assert preview.context["result"].totals["new"] == 3  # a small file is still previewed
    with django_capture_on_commit_callbacks(execute=True):
        started = confirm(job_client, CUSTOMER_CONFIRM_URL, preview)

    job = ImportJob.objects.get()
    assert started["Location"] == reverse("admin:core_importjob_change", args=[job.pk])
    assert Customer.objects.count() == 3


def test_a_background_import_cannot_keep_the_valid_rows_apart(job_client):
    page = upload(
        job_client, CUSTOMER_IMPORT_URL, "customers.csv", in_background="on", keep_valid_rows="on"
    )

    assert "A background import is all or nothing" in page.content.decode()
    assert ImportJob.objects.count() == 0


def test_a_user_who_may_not_see_jobs_is_sent_back_to_the_list(
    staff_client, settings, django_capture_on_commit_callbacks
):
    settings.CRM_IMPORT_JOB_THRESHOLD = 1
    preview = upload(staff_client, CUSTOMER_IMPORT_URL, "customers.csv")

    with django_capture_on_commit_callbacks(execute=True):
        started = confirm(staff_client, CUSTOMER_CONFIRM_URL, preview)

    assert started["Location"] == reverse("admin:customers_customer_changelist")
    assert Customer.objects.count() == 3


# Every record type's admin imports and exports -------------------------------------------------

WIRED = [
    "customers_order",
    "loyalty_loyaltyprogram",
    "loyalty_tier",
    "loyalty_reward",
    "segments_segment",
]


@pytest.mark.parametrize("admin_name", WIRED)
def test_each_admin_offers_import_and_export(admin_client, admin_name):
    changelist = admin_client.get(reverse(f"admin:{admin_name}_changelist"))

    assert reverse(f"admin:{admin_name}_import") in changelist.content.decode()
    assert admin_client.get(reverse(f"admin:{admin_name}_import")).status_code == 200
    assert admin_client.get(reverse(f"admin:{admin_name}_export")).status_code == 200


def test_order_export_keeps_amounts_numbers_in_xlsx(staff_client):
    OrderFactory(number="=1+1", total=Decimal("12.50"))
    url = reverse("admin:customers_order_export")
    page = staff_client.get(url)

    sheet = xlsx_rows(staff_client.post(url, export_form(page, XLSX)))

    row = dict(zip(sheet[0], sheet[1], strict=True))
    assert row["number"] == "'=1+1"
    assert row["total"] == 12.5


@pytest.mark.parametrize("orders", [2, 9])
def test_order_export_query_count_does_not_grow_with_rows(staff_client, assert_queries, orders):
    OrderFactory.create_batch(orders)
    url = reverse("admin:customers_order_export")
    page = staff_client.get(url)
    response = staff_client.post(url, export_form(page))

    # The page count, one chunk of orders with their customers, and their items.
    with assert_queries(3):
        rows = csv_rows(response)

    assert len(rows) == orders + 1
