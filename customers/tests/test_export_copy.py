"""The customers' CSV export written by PostgreSQL (``CustomerResource.export_sql`` through
``core.exports.copy``): cell for cell what the resource path writes, from the admin too."""

import csv
import datetime
import io

import pytest
from django.urls import reverse

from core.exports.cells import FORMULA_STARTS
from core.exports.streaming import csv_lines, resource_csv, resource_rows
from customers.models import Address, Customer, Note, Tag
from customers.resources import CustomerResource
from customers.tests.factories import CustomerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def parsed(lines) -> list[list[str]]:
    text = "".join(line.decode() if isinstance(line, bytes) else line for line in lines)
    return list(csv.reader(io.StringIO(text, newline="")))


def tricky_customers() -> list[Customer]:
    customers = []
    for n, start in enumerate(FORMULA_STARTS):
        customer = CustomerFactory(
            external_id=f"{start}X{n}",
            first_name=f"{start}cmd|' /C calc'!A0",
            last_name='Quote "and", comma\nnewline',
            company="",
            date_of_birth=datetime.date(1980, 1, n + 1),
            accepts_email=n % 2 == 0,
            attributes={"imported_total_spent": f"-{n}.50", "imported_total_orders": n},
        )
        Address.objects.create(
            customer=customer,
            kind=Address.Kind.SHIPPING,
            is_default=True,
            line1=f"{start}1 Main St",
            city="Boston",
            country="US",
        )
        customers.append(customer)
    plain = CustomerFactory(external_id="", email="", phone="", date_of_birth=None)
    Address.objects.create(customer=plain, kind=Address.Kind.BILLING, line1="Not the default")
    Note.objects.create(customer=plain, body="=not exported")
    for name in ("zeta", "=alpha", "Mid, dle"):
        tag = Tag.objects.create(name=name, slug=name.strip("=").replace(", ", "-").lower())
        for customer in (*customers, plain):
            customer.tags.add(tag)
    return [*customers, plain]


def test_the_copy_export_writes_what_the_resource_path_writes():
    tricky_customers()
    queryset = Customer.objects.order_by("pk")

    written = parsed(resource_csv(CustomerResource(), queryset))

    expected = parsed(csv_lines(resource_rows(CustomerResource(), queryset)))
    assert written == expected
    assert len(written) == len(FORMULA_STARTS) + 2
    first_name = written[0].index("first_name")
    assert all(row[first_name].startswith("'") for row in written[1 : len(FORMULA_STARTS) + 1])


def test_the_copy_export_keeps_the_chosen_customers_and_columns():
    chosen, _other = CustomerFactory(last_name="Chosen"), CustomerFactory(last_name="Other")
    resource = CustomerResource()
    columns = ["last_name", "tags"]

    written = parsed(resource_csv(resource, Customer.objects.filter(pk=chosen.pk), columns))

    assert written == [["last_name", "tags"], ["Chosen", ""]]


def test_the_customer_admin_exports_its_filtered_list_through_copy(admin_client):
    CustomerFactory(last_name="Kept", status=Customer.Status.ACTIVE)
    CustomerFactory(last_name="Left out", status=Customer.Status.INACTIVE)
    url = reverse("admin:customers_customer_export") + "?status__exact=active"
    form = admin_client.get(url).context["form"]
    data = {name: "on" for name in form.fields if name.startswith("customer")}

    response = admin_client.post(url, {**data, "format": "0", "resource": "0"})

    rows = parsed(response.streaming_content)
    last_name = rows[0].index("last_name")
    assert [row[last_name] for row in rows[1:]] == ["Kept"]


def test_the_copy_export_keeps_the_lists_order():
    for last_name, first_name in [("Berg", "Ann"), ("Aalto", "Zoe"), ("Berg", "Abe"), ("Cole", "")]:
        CustomerFactory(last_name=last_name, first_name=first_name)

    def exported(queryset):
        rows = parsed(resource_csv(CustomerResource(), queryset, ["first_name", "last_name"]))
        assert rows[0] == ["first_name", "last_name"]
        return [[last, first] for first, last in rows[1:]]

    by_name = [["Aalto", "Zoe"], ["Berg", "Abe"], ["Berg", "Ann"], ["Cole", ""]]
    assert exported(Customer.objects.all()) == by_name  # the model's default order
    assert exported(Customer.objects.order_by("-last_name", "first_name")) == [
        ["Cole", ""],
        ["Berg", "Abe"],
        ["Berg", "Ann"],
        ["Aalto", "Zoe"],
    ]
    # An order by another table's column: creation order, as documented.
    assert exported(Customer.objects.order_by("score__churn_risk")) == [
        ["Berg", "Ann"],
        ["Aalto", "Zoe"],
        ["Berg", "Abe"],
        ["Cole", ""],
    ]
