import csv
import io
from decimal import Decimal

import openpyxl
import pytest
import tablib
from django.contrib import admin
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from import_export import fields, resources, widgets

from core.exports.admin import CrmExportMixin
from core.exports.cells import FORMULA_STARTS, cell_safe, cell_text
from core.exports.formats import SafeCSV, SafeXLSX
from customers.models import Customer
from customers.tests.factories import CustomerFactory, UserFactory

PREFIXES = ["=", "+", "-", "@", "\t", "\r"]


class CustomerExport(resources.ModelResource):
    """A small export of customers for these tests."""

    spent = fields.Field(
        attribute="total_spent", column_name="spent", widget=widgets.DecimalWidget()
    )

    class Meta:
        model = Customer
        fields = ("id", "first_name", "last_name", "phone", "spent")
        export_order = fields


class CustomerExportAdmin(CrmExportMixin, admin.ModelAdmin):
    resource_classes = (CustomerExport,)


def streamed_rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def test_every_formula_start_is_covered():
    assert set(FORMULA_STARTS) == set(PREFIXES)


@pytest.mark.parametrize("start", PREFIXES)
def test_text_starting_like_a_formula_gets_a_quote(start):
    assert cell_safe(f"{start}HYPERLINK(1)") == f"'{start}HYPERLINK(1)"
    assert cell_text(f"{start}cmd") == f"'{start}cmd"


def test_numbers_and_ordinary_text_are_left_as_they_are():
    assert cell_safe(Decimal("-12.50")) == Decimal("-12.50")
    assert cell_safe(-3) == -3
    assert cell_safe(-0.5) == -0.5
    assert cell_safe(None) is None
    assert cell_safe("a=b") == "a=b"
    assert cell_text(Decimal("-12.50")) == "-12.50"
    assert cell_text(None) == ""


def dataset_with_every_prefix() -> tablib.Dataset:
    dataset = tablib.Dataset(headers=["name", "amount"])
    for start in PREFIXES:
        dataset.append([f"{start}SUM(A1)", Decimal("-5.25")])
    return dataset


def test_csv_format_escapes_each_prefix():
    exported = SafeCSV().export_data(dataset_with_every_prefix())

    rows = list(csv.reader(io.StringIO(exported, newline="")))

    assert [row[0] for row in rows[1:]] == [f"'{start}SUM(A1)" for start in PREFIXES]
    assert {row[1] for row in rows[1:]} == {"-5.25"}


def test_xlsx_format_escapes_each_prefix_and_keeps_numbers_numeric():
    exported = SafeXLSX().export_data(dataset_with_every_prefix())

    sheet = openpyxl.load_workbook(io.BytesIO(exported)).active
    rows = list(sheet.iter_rows(min_row=2, values_only=True))

    # The file keeps a carriage return as a line break: the quote in front is what counts.
    assert [row[0] for row in rows] == [
        f"'{start}SUM(A1)".replace("\r", "\n") for start in PREFIXES
    ]
    assert all(sheet.cell(row=n, column=1).data_type == "s" for n in range(2, 8))
    assert {row[1] for row in rows} == {-5.25}
    assert all(sheet.cell(row=n, column=2).data_type == "n" for n in range(2, 8))


@pytest.fixture
def export_admin():
    return CustomerExportAdmin(Customer, admin.site)


@pytest.fixture
def superuser(db):
    return UserFactory(is_superuser=True)


def export_request(user):
    request = RequestFactory().post("/")
    request.user = user
    return request


@pytest.mark.django_db
def test_csv_export_streams_escaped_text_and_plain_numbers(export_admin, superuser):
    CustomerFactory(
        first_name="=HYPERLINK(1)", last_name="@SUM(1)", phone="+442071838750", total_spent=5
    )

    response = export_admin._do_file_export(
        SafeCSV(), export_request(superuser), Customer.objects.order_by("pk")
    )

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = streamed_rows(response)
    assert rows[0] == ["id", "first_name", "last_name", "phone", "spent"]
    assert rows[1][1:] == ["'=HYPERLINK(1)", "'@SUM(1)", "'+442071838750", "5.00"]


@pytest.mark.django_db
def test_xlsx_export_keeps_numbers_numeric(export_admin, superuser):
    CustomerFactory(first_name="-1+2", total_spent=Decimal("12.50"))

    response = export_admin._do_file_export(
        SafeXLSX(), export_request(superuser), Customer.objects.order_by("pk")
    )

    content = b"".join(response.streaming_content)
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    row = next(sheet.iter_rows(min_row=2, values_only=True))
    assert row[1] == "'-1+2"
    assert row[4] == 12.5
    assert response["Content-Disposition"].startswith("attachment")


@pytest.mark.django_db
@pytest.mark.parametrize("customers", [3, 12])
def test_csv_export_query_count_is_constant_per_chunk(
    export_admin, superuser, assert_queries, customers, monkeypatch, vendor
):
    monkeypatch.setattr("core.exports.streaming.EXPORT_CHUNK_SIZE", 5)
    CustomerFactory.create_batch(customers)
    response = export_admin._do_file_export(
        SafeCSV(), export_request(superuser), Customer.objects.order_by("pk")
    )

    # SQLite reads the whole result through one cursor; PostgreSQL fetches each chunk of
    # the same server-side cursor: either way one SELECT, whatever the number of rows.
    with assert_queries(1):
        rows = streamed_rows(response)

    assert len(rows) == customers + 1


@pytest.mark.django_db
@pytest.mark.parametrize("count", [3, 9])
def test_a_resources_rows_read_its_related_rows_per_chunk_not_per_row(count, assert_queries):
    from core.exports.streaming import resource_rows
    from customers.resources import CustomerResource
    from customers.tests.factories import TagFactory

    tag = TagFactory(name="Wholesale")
    for _ in range(count):
        CustomerFactory().tags.add(tag)

    # the count of the chunked read, one chunk, its tags, its default addresses
    with assert_queries(4):
        rows = list(resource_rows(CustomerResource(), Customer.objects.order_by("pk")))

    assert len(rows) == count + 1
    tags_column = rows[0].index("tags")
    assert {row[tags_column] for row in rows[1:]} == {"Wholesale"}


def test_an_xlsx_cell_is_safe_numeric_or_a_date_without_a_zone(settings):
    import datetime
    from zoneinfo import ZoneInfo

    from core.exports.cells import xlsx_cell

    settings.TIME_ZONE = "America/New_York"
    moment = datetime.datetime(2026, 1, 2, 15, 0, tzinfo=ZoneInfo("UTC"))

    assert xlsx_cell("=1+1") == "'=1+1"
    assert xlsx_cell(Decimal("-3.50")) == Decimal("-3.50")
    assert xlsx_cell(datetime.date(2026, 1, 2)) == datetime.date(2026, 1, 2)
    assert xlsx_cell(moment) == datetime.datetime(2026, 1, 2, 10, 0)
    assert xlsx_cell(None) is None
    assert xlsx_cell(7) == 7
