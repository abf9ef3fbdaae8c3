"""Addresses, notes and tags in and out of CSV: their resources and the admin's import views."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from core.imports.reading import read_csv
from customers.models import Address, Note, Tag
from customers.resources import AddressResource, NoteResource, TagResource
from customers.tests.factories import AddressFactory, CustomerFactory, NoteFactory, TagFactory

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.django_db


@pytest.fixture
def people():
    return (
        CustomerFactory(external_id="A1", email="one@example.com"),
        CustomerFactory(external_id="", email="ana@example.com"),
        CustomerFactory(external_id="", email="bo@example.com"),
    )


def run_import(resource_class, data: bytes, **kwargs):
    resource = resource_class()
    result = resource.import_data(read_csv(data), **kwargs)
    return resource, result


def problems(resource, result) -> list[str]:
    return [str(problem) for problem in resource.problems(result)]


def round_trip(resource_class):
    exported = resource_class().export().export("csv").encode()
    return run_import(resource_class, exported)


# Addresses ----------------------------------------------------------------------------------


def test_addresses_are_linked_by_external_id_or_email_in_any_case(people):
    resource, result = run_import(AddressResource, (DATA / "addresses.csv").read_bytes())

    assert problems(resource, result) == []
    assert result.totals["new"] == 3
    by_id = Address.objects.get(customer=people[0])
    assert (by_id.line1, by_id.postal_code, by_id.country, by_id.is_default) == (
        "12 Rose St",
        "02134",
        "US",
        True,
    )
    assert Address.objects.get(customer=people[1]).kind == Address.Kind.BILLING
    assert Address.objects.get(customer=people[2]).line1 == "3 Elm Rd\nBack door"


def test_the_same_address_file_twice_and_a_round_trip_report_no_changes(people):
    data = (DATA / "addresses.csv").read_bytes()
    run_import(AddressResource, data)

    _resource, again = run_import(AddressResource, data)
    resource, result = round_trip(AddressResource)

    assert again.totals["skip"] == 3 and Address.objects.count() == 3
    assert problems(resource, result) == []
    assert result.totals["skip"] == 3
    assert result.totals["new"] == result.totals["update"] == 0


def test_an_exported_address_is_updated_by_its_id(people):
    address = AddressFactory(customer=people[0], city="Boston", postal_code="02134")
    data = (
        "id,customer,kind,line1,city,postal_code,country\r\n"
        f"{address.pk},A1,{address.kind},{address.line1},Cambridge,02139,US\r\n"
    ).encode()

    resource, result = run_import(AddressResource, data)

    assert problems(resource, result) == []
    assert result.totals["update"] == 1
    address.refresh_from_db()
    assert (address.city, address.postal_code) == ("Cambridge", "02139")


def test_an_imported_default_replaces_the_customers_default_of_that_kind(people):
    old = AddressFactory(customer=people[0], kind=Address.Kind.SHIPPING, is_default=True)

    resource, result = run_import(AddressResource, (DATA / "addresses.csv").read_bytes())

    assert problems(resource, result) == []
    old.refresh_from_db()
    assert not old.is_default
    assert Address.objects.get(customer=people[0], is_default=True).line1 == "12 Rose St"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("nobody@example.com,home,1 Main St,Austin,,US,no", "row 3, customer: no customer has"),
        ("A1,home,1 Main St,Austin,,Atlantis,no", "row 3, country: “ATLANTIS” is not an ISO"),
        ("A1,castle,1 Main St,Austin,,US,no", "row 3, kind: Value 'castle' is not a valid"),
        ("A1,home,,Austin,,US,no", "row 3, line1: This field cannot be blank"),
        ("A1,shipping,9 Oak St,Austin,,US,yes", "row 3, is_default: row 2 is already this"),
        ("A1,shipping,12 Rose St,Boston,02134,US,no", "row 3, customer: this customer's address"),
        ("A1,home,1 Main St,Austin,,US,maybe", "row 3, is_default: 'maybe' is not yes or no"),
    ],
    ids=[
        "unknown-customer",
        "bad-country",
        "bad-kind",
        "blank",
        "two-defaults",
        "duplicate",
        "bool",
    ],
)
def test_a_bad_address_row_is_named_and_nothing_is_written(people, row, expected):
    data = (
        "customer,kind,line1,city,postal_code,country,is_default\r\n"
        "A1,shipping,12 Rose St,Boston,02134,US,yes\r\n" + row + "\r\n"
    ).encode()

    resource, result = run_import(AddressResource, data)

    assert any(problem.startswith(expected) for problem in problems(resource, result)), problems(
        resource, result
    )
    assert not Address.objects.exists()


def test_an_id_that_names_no_address_or_another_customers_is_refused(people):
    theirs = AddressFactory(customer=people[1])
    data = (
        "id,customer,kind,line1,city,country\r\n"
        "999999,A1,home,1 Main St,Austin,US\r\n"
        f"{theirs.pk},A1,home,1 Main St,Austin,US\r\n"
    ).encode()

    resource, result = run_import(AddressResource, data)

    assert problems(resource, result) == [
        "row 2, id: there is no address 999999; leave the id blank to add one",
        f"row 3, customer: address {theirs.pk} belongs to another customer",
    ]
    assert Address.objects.count() == 1


# Notes --------------------------------------------------------------------------------------


def test_notes_are_added_once_and_round_trip_without_changes(people):
    data = (DATA / "notes.csv").read_bytes()

    resource, result = run_import(NoteResource, data)
    _again_resource, again = run_import(NoteResource, data)
    trip_resource, trip = round_trip(NoteResource)

    assert problems(resource, result) == [] and result.totals["new"] == 2
    note = Note.objects.get(customer=people[0])
    assert note.body == "Call about the wedding order,\nask for Jo"
    assert (note.kind, note.priority, note.pinned) == ("follow_up", "high", True)
    assert str(note.follow_up_on) == "2024-03-31"
    assert again.totals["skip"] == 2 and Note.objects.count() == 2
    assert problems(trip_resource, trip) == [] and trip.totals["skip"] == 2


def test_a_note_exported_with_its_id_is_updated(people):
    note = NoteFactory(customer=people[2], body="Call back", done=False)
    data = f"id,customer,body,done\r\n{note.pk},bo@example.com,Call back,yes\r\n".encode()

    resource, result = run_import(NoteResource, data)

    assert problems(resource, result) == [] and result.totals["update"] == 1
    note.refresh_from_db()
    assert note.done is True


def test_bad_notes_are_named_and_nothing_is_written(people, settings):
    settings.CRM_NOTE_MAX_LENGTH = 20
    data = (
        "customer,kind,body,follow_up_on\r\n"
        "A1,internal,Fine,\r\n"
        "A1,gossip,Fine too,\r\n"
        "A1,internal," + "x" * 21 + ",\r\n"
        "A1,internal,Later,31 February\r\n"
        "ghost@example.com,internal,Who,\r\n"
    ).encode()

    resource, result = run_import(NoteResource, data)

    found = problems(resource, result)
    assert found[0].startswith("row 3, kind: Value 'gossip' is not a valid choice")
    assert found[1] == "row 4, body: A note can be at most 20 characters long; this one has 21"
    assert found[2].startswith("row 5, follow_up_on: '31 February' is not a date")
    assert found[3].startswith("row 6, customer: no customer has the external ID or email")
    assert not Note.objects.exists()


# Tags ---------------------------------------------------------------------------------------


def test_tags_are_matched_by_name_in_any_case(people):
    vip = TagFactory(name="vip", color="#000000")

    resource, result = run_import(TagResource, (DATA / "tags.csv").read_bytes())

    assert problems(resource, result) == []
    assert (result.totals["update"], result.totals["new"]) == (1, 1)
    vip.refresh_from_db()
    assert (vip.name, vip.color, vip.description) == ("VIP", "#d4af37", "Spends the most")
    assert Tag.objects.get(name="newsletter").slug == "newsletter"


def test_tags_round_trip_without_changes_and_new_names_get_their_own_slugs():
    data = b"name\r\nVIP!\r\nVIP?\r\n"

    resource, result = run_import(TagResource, data)
    trip_resource, trip = round_trip(TagResource)

    assert problems(resource, result) == []
    assert len(set(Tag.objects.values_list("slug", flat=True))) == 2
    assert problems(trip_resource, trip) == [] and trip.totals["skip"] == 2


def test_bad_tags_are_named_and_nothing_is_written():
    data = (
        "name,color\r\nVIP,#fff000\r\nvip,#fff000\r\nGold,yellow\r\n" + "x" * 51 + ",\r\n"
    ).encode()

    resource, result = run_import(TagResource, data)

    found = problems(resource, result)
    assert found[0] == "row 3, name: 'vip' is the same record as row 2"
    assert found[1].startswith("row 4, color: Enter a colour as # and six hex digits")
    assert found[2].startswith("row 5, name: Ensure this value has at most 50 characters")
    assert not Tag.objects.exists()


# Through the admin --------------------------------------------------------------------------


def admin_import(client, model: str, data: bytes, name: str = "file.csv"):
    """Upload, preview, then confirm, as an admin does; returns (preview, confirmation)."""
    url = reverse(f"admin:customers_{model}_import")
    preview = client.post(
        url, {"format": 0, "import_file": SimpleUploadedFile(name, data, "text/csv")}
    )
    form = preview.context.get("confirm_form") if preview.context else None
    if form is None:
        return preview, None
    confirm = client.post(
        reverse(f"admin:customers_{model}_process_import"),
        {name: value for name, value in form.initial.items() if value is not None},
    )
    return preview, confirm


def test_addresses_imported_through_the_admin(admin_client, people):
    preview, confirm = admin_import(admin_client, "address", (DATA / "addresses.csv").read_bytes())

    assert preview.status_code == 200
    assert confirm.status_code == 302
    assert Address.objects.count() == 3


def test_a_tag_file_with_an_error_shows_it_and_imports_nothing(admin_client):
    preview, confirm = admin_import(
        admin_client, "tag", b"name,color\r\nVIP,#fff000\r\nGold,yellow\r\n"
    )

    assert confirm is None
    shown = preview.content.decode().casefold()
    assert "row 3, color: enter a colour as # and six hex digits" in shown
    assert not Tag.objects.exists()


def test_notes_export_from_the_admin_with_formulas_neutralised(admin_client, people):
    NoteFactory(customer=people[0], body='=HYPERLINK("http://x")')

    response = admin_client.post(
        reverse("admin:customers_note_export"), {"format": 0, "resource": 0, **export_fields()}
    )

    body = b"".join(response.streaming_content if response.streaming else [response.content])
    assert "'=HYPERLINK" in body.decode("utf-8-sig")


def export_fields() -> dict:
    return {f"noteresource_{name}": "on" for name in NoteResource._meta.fields}
