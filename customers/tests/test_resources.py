from pathlib import Path

import pytest
import tablib
from django.db import connection

from core.imports.reading import read_csv
from customers.models import Address, Customer, Note, Tag
from customers.resources import CustomerResource
from customers.tests.factories import CustomerFactory

DATA = Path(__file__).parent / "data"
HEADER = "external_id,first_name,last_name,email,phone,tags\r\n"


def run_import(data: bytes, **kwargs):
    resource = CustomerResource()
    result = resource.import_data(read_csv(data), **kwargs)
    return resource, result


def problems(resource, result):
    return [str(problem) for problem in resource.problems(result)]


@pytest.mark.django_db
def test_creates_customers_with_tags():
    data = (HEADER + 'A1,Ana,Silva,Ana@Example.com,(415) 555-0123,"vip, newsletter"\r\n').encode()

    resource, result = run_import(data)

    assert problems(resource, result) == []
    customer = Customer.objects.get()
    assert (customer.external_id, customer.email) == ("A1", "ana@example.com")
    assert customer.phone.as_e164 == "+14155550123"
    assert customer.source == Customer.Source.IMPORT
    assert sorted(customer.tags.values_list("name", flat=True)) == ["newsletter", "vip"]


@pytest.mark.django_db
def test_matches_by_external_id_then_email_in_any_case_then_phone():
    by_id = CustomerFactory(external_id="A1", email="one@example.com")
    by_email = CustomerFactory(external_id="", email="two@example.com")
    by_phone = CustomerFactory(external_id="", email="", phone="+14155550199")
    data = (
        b"External ID,First Name,Email,Phone\r\n"
        b"A1,Uno,,\r\n"
        b",Dos,TWO@Example.COM,\r\n"
        b",Tres,,415-555-0199\r\n"
    )

    resource, result = run_import(data)

    assert problems(resource, result) == []
    assert result.totals["update"] == 3 and Customer.objects.count() == 3
    names = {c.pk: c.first_name for c in Customer.objects.all()}
    assert names == {by_id.pk: "Uno", by_email.pk: "Dos", by_phone.pk: "Tres"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("A2,Bob,B,bob@,,", "row 3, email: 'bob@' is not a valid email address"),
        ("A2,Bob,B,,12,", "row 3, phone: '12' is not a valid phone number"),
        ("A1,Bob,B,,,", "row 3, external_id: 'A1' is the same record as row 2"),
        ("A2," + "x" * 500 + ",B,,,", "row 3, first_name: Ensure this value has at most 100"),
    ],
    ids=["bad-email", "bad-phone", "duplicate", "too-long"],
)
def test_a_bad_row_is_named_and_nothing_is_written(row, expected):
    data = (HEADER + "A1,Ana,Silva,ana@example.com,,vip\r\n" + row + "\r\n").encode()

    resource, result = run_import(data)

    assert any(problem.startswith(expected) for problem in problems(resource, result))
    assert not Customer.objects.exists()
    assert not Tag.objects.exists()


@pytest.mark.django_db
def test_wrong_columns_are_refused():
    resource, result = run_import(b"sku,price\r\nX1,3\r\n")

    assert problems(resource, result)[0].startswith(
        "the file: None of the file's columns is one this import knows"
    )
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_valid_rows_only_when_asked():
    data = (HEADER + "A1,Ana,,ana@example.com,,\r\nA2,Bob,,bob@,,\r\n").encode()

    resource, result = run_import(data, rollback_on_validation_errors=False)

    assert problems(resource, result) == ["row 3, email: 'bob@' is not a valid email address"]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["A1"]


@pytest.mark.django_db
@pytest.mark.parametrize("layout", ["current", "legacy"])
def test_shopify_export_imports_as_is(layout):
    data = (DATA / f"shopify_customers_{layout}.csv").read_bytes()

    resource, result = run_import(data)

    assert problems(resource, result) == []
    assert result.totals["new"] == 2
    first = Customer.objects.order_by("pk").first()
    assert first.accepts_email is True
    assert first.phone.as_e164.startswith("+1")
    address = Address.objects.get(customer=first)
    assert address.is_default and address.country == "US"
    assert address.postal_code[0] == "0" or address.postal_code[0] == "8"
    assert first.attributes["imported_total_orders"] in (7, 2)
    assert first.tags.count() == 2
    if layout == "current":
        assert first.external_id == "7012345678901"
        assert first.email == "ana.silva@example.com"
        assert Note.objects.get(customer=first).body.startswith("Prefers morning calls,\nasks")
        assert first.accepts_sms is False


@pytest.mark.django_db
def test_round_trip_reports_no_changes():
    data = (DATA / "shopify_customers_current.csv").read_bytes()
    run_import(data)
    exported = CustomerResource().export()
    csv_bytes = exported.export("csv").encode()

    resource, result = run_import(csv_bytes)

    assert problems(resource, result) == []
    assert result.totals["skip"] == 2, result.totals
    assert result.totals["new"] == result.totals["update"] == 0


@pytest.mark.django_db
def test_second_import_of_the_same_file_changes_nothing():
    data = (DATA / "shopify_customers_legacy.csv").read_bytes()
    run_import(data)

    _resource, result = run_import(data)

    assert result.totals["skip"] == 2 and Customer.objects.count() == 2
    assert Note.objects.count() == 0 and Address.objects.count() == 1


def test_dataset_helper_is_tablib():
    assert isinstance(read_csv(b"a\r\n1\r\n"), tablib.Dataset)


@pytest.mark.django_db
def test_two_rows_naming_one_customer_by_different_keys_are_refused():
    CustomerFactory(external_id="A1", email="ana@example.com")
    data = (HEADER + "A1,Ana,,,,\r\n,Anita,,ANA@example.com,,\r\n").encode()

    resource, result = run_import(data)

    assert problems(resource, result) == [
        "row 3, email: 'ana@example.com' is the same record as row 2"
    ]
    assert Customer.objects.get().first_name != "Anita"


@pytest.mark.django_db
def test_a_created_customer_has_the_models_defaults_and_a_working_key():
    from django.utils import timezone

    before = timezone.now()
    _resource, result = run_import((HEADER + "A1,Ana,Silva,,,\r\n").encode())

    imported = Customer.objects.get()
    fresh = Customer(source=Customer.Source.IMPORT)
    skipped = {"id", "first_name", "last_name", "external_id", "created_at", "updated_at"}
    for field in Customer._meta.concrete_fields:
        if field.name not in skipped:
            assert getattr(imported, field.attname) == getattr(fresh, field.attname), field.name
    assert imported.created_at >= before and imported.updated_at >= before
    assert result.rows[0].object_id == imported.pk
    # The table's own sequence goes on after the keys the import took.
    assert CustomerFactory().pk > imported.pk


@pytest.mark.django_db
def test_tags_added_by_an_import_name_who_imported(django_user_model):
    user = django_user_model.objects.create_user("importer")
    resource = CustomerResource()

    resource.import_data(read_csv((HEADER + "A1,Ana,,,,vip\r\n").encode()), user=user)

    assert Customer.objects.get().customer_tags.get().added_by == user


@pytest.mark.django_db
def test_an_import_reads_and_writes_per_batch_not_per_row(settings, assert_queries):
    settings.CRM_IMPORT_BATCH_SIZE = 3
    CustomerFactory(external_id="A0")
    Tag.objects.create(name="vip", slug="vip")
    rows = "".join(f"A{n},N{n},L,n{n}@example.com,+1415555{1000 + n},vip\r\n" for n in range(6))
    data = read_csv((HEADER + rows).encode())
    # A batch: a query per key (external_id, then the emails of the rows not found yet; these
    # rows have both, so their phones are not keys), what the found customers have (tags,
    # notes, address), the new rows (PostgreSQL: their keys drawn from the sequence, then the
    # COPY; elsewhere one INSERT), one UPDATE, the tag, and one INSERT … SELECT of it.
    copy = 1 if connection.vendor == "postgresql" else 0
    first = 2 + 3 + 1 + copy + 1 + 1 + 1  # A0 (found), A1, A2
    second = 2 + 1 + copy + 1 + 1  # A3 to A5: nothing found, nothing to update
    with assert_queries(2 + first + second):  # and the SAVEPOINT and its RELEASE
        result = CustomerResource().import_data(data)

    assert (result.totals["new"], result.totals["update"]) == (5, 1)
    assert Customer.objects.filter(tags__name="vip").count() == 6


@pytest.mark.django_db
def test_a_row_whose_keys_find_two_customers_is_refused_on_the_second():
    CustomerFactory(external_id="A1", email="ana@example.com")
    CustomerFactory(external_id="B2", email="bea@example.com")

    resource, result = run_import((HEADER + "A1,Ana,,bea@example.com,,\r\n").encode())

    assert problems(resource, result) == [
        "row 2, email: 'bea@example.com' belongs to another record than external_id 'A1' of "
        "the same row"
    ]


@pytest.mark.django_db
def test_a_phone_two_customers_share_is_no_conflict():
    CustomerFactory(external_id="A1", email="", phone="+14155550123")
    sibling = CustomerFactory(external_id="", email="", phone="+14155550123")

    resource, result = run_import((HEADER + "A1,Ana,,,(415) 555-0123,\r\n").encode())

    assert problems(resource, result) == []
    assert Customer.objects.get(external_id="A1").first_name == "Ana"
    sibling.refresh_from_db()
    assert sibling.first_name != "Ana"


@pytest.mark.django_db
def test_created_customers_do_not_share_a_list():
    _resource, result = run_import((HEADER + "A1,Ana,,,,\r\nA2,Bea,,,,\r\n").encode())

    first, second = (row.instance for row in result.rows)
    assert first.preferred_categories == second.preferred_categories == []
    assert first.preferred_categories is not second.preferred_categories


@pytest.mark.django_db(transaction=True)
def test_a_write_the_database_refuses_is_reported_not_raised(monkeypatch):
    # A customer with the row's email appears after the batch looked (another session).
    CustomerFactory(email="ana@example.com")
    monkeypatch.setattr(CustomerResource, "existing_lookup", lambda self, keys: {})

    resource, result = run_import((HEADER + "A1,Ana,,ana@example.com,,\r\n").encode())

    (problem,) = problems(resource, result)
    assert problem.startswith("the file: ") and "customer_email_ci_unique" in problem
    assert Customer.objects.count() == 1


@pytest.mark.django_db
def test_a_row_with_its_own_id_or_email_is_not_matched_by_a_phone_someone_has():
    # Phone numbers are shared (a family, a shop's front desk): only a row with neither an
    # external ID nor an email is matched by its phone.
    parent = CustomerFactory(external_id="P1", email="parent@example.com", phone="+14155550123")
    data = (
        HEADER
        + "K1,Kid,,,(415) 555-0123,\r\n"
        + ",Aunt,,aunt@example.com,(415) 555-0123,\r\n"
        + ",Parent,,,(415) 555-0123,\r\n"
    ).encode()

    resource, result = run_import(data)

    assert problems(resource, result) == []
    assert (result.totals["new"], result.totals["update"]) == (2, 1)
    parent.refresh_from_db()
    assert (parent.external_id, parent.email, parent.first_name) == (
        "P1",
        "parent@example.com",
        "Parent",
    )
    assert set(Customer.objects.values_list("first_name", flat=True)) == {"Kid", "Aunt", "Parent"}


@pytest.mark.django_db
def test_text_with_tabs_line_breaks_and_backslashes_is_stored_as_written():
    # Written by COPY on PostgreSQL, whose text format gives these characters a meaning.
    data = (
        HEADER + 'T1,"Ana\tMaria","O\'Brien \\\\ Sons\r\nLtd",t1@example.com,,"a\\b, c\td"\r\n'
    ).encode()
    resource, result = run_import(data)

    assert problems(resource, result) == []
    customer = Customer.objects.get(external_id="T1")
    assert (customer.first_name, customer.last_name) == ("Ana\tMaria", "O'Brien \\\\ Sons\r\nLtd")
    assert sorted(customer.tags.values_list("name", flat=True)) == ["a\\b", "c\td"]


@pytest.mark.django_db
def test_an_email_longer_than_the_column_is_named_not_a_database_error():
    email = "a" * 250 + "@example.com"
    resource, result = run_import((HEADER + f"L1,Long,Mail,{email},,\r\n").encode())

    assert problems(resource, result) == [f"row 2, email: '{email}' is longer than 254 characters"]
    assert not Customer.objects.exists()


@pytest.mark.django_db
def test_a_customer_found_in_one_batch_and_named_again_in_another_is_a_repeat(settings):
    settings.CRM_IMPORT_BATCH_SIZE = 2
    CustomerFactory(external_id="X1", email="x1@example.com", last_name="Old")
    rows = "X1,Ann,New,,,\r\nN1,B,B,n1@example.com,,\r\nN2,C,C,n2@example.com,,\r\n"
    rows += ",D,Again,X1@Example.com,,\r\n"  # the fourth row: the second batch's second
    resource, result = run_import((HEADER + rows).encode())

    assert problems(resource, result) == [
        "row 5, email: 'x1@example.com' is the same record as row 2"
    ]
    assert Customer.objects.get(external_id="X1").last_name == "Old"


@pytest.mark.django_db
def test_a_row_repeating_an_earlier_batchs_refused_row_is_refused_too(settings):
    settings.CRM_IMPORT_BATCH_SIZE = 2
    rows = "R1,Ann,Bad,ann@example.com,12,\r\nR2,Bob,B,bob@example.com,,\r\n"
    rows += "R3,Ann,Again,ann@example.com,,\r\n"  # the second batch's first row
    resource, result = run_import((HEADER + rows).encode(), rollback_on_validation_errors=False)

    assert problems(resource, result) == [
        "row 2, phone: '12' is not a valid phone number",
        "row 4, email: 'ann@example.com' is the same record as row 2",
    ]
    assert list(Customer.objects.values_list("external_id", flat=True)) == ["R2"]


@pytest.mark.django_db
def test_a_phone_only_row_finding_a_customer_the_file_created_updates_it_as_before(settings):
    settings.CRM_IMPORT_BATCH_SIZE = 1
    rows = "P1,Ann,First,ann@example.com,+14155550123,\r\n,Ann,Second,,+14155550123,\r\n"
    resource, result = run_import((HEADER + rows).encode())

    assert problems(resource, result) == []
    assert (result.totals["new"], result.totals["update"]) == (1, 1)
    assert Customer.objects.get().last_name == "Second"
