"""The address verification queue: listing, counters, verify/reject (htmx and plain POST), bulk
verify, permissions and a query count that does not grow with the queue."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.testing import announced, element, elements, focused
from customers.models import Address
from customers.tests.factories import AddressFactory, CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE_URL = reverse("customers:address_queue")
HTMX = {"HTTP_HX_REQUEST": "true"}
# Session, user with permissions, page count (up to the cap), page rows, counters.
QUEUE_QUERIES = 5

VERIFIED = Address.VerificationStatus.VERIFIED
REJECTED = Address.VerificationStatus.REJECTED
PENDING = Address.VerificationStatus.PENDING


def verify_url(address):
    return reverse("customers:address_verify", args=[address.pk])


def reject_url(address):
    return reverse("customers:address_reject", args=[address.pk])


def pending_address(days_old=0, **fields):
    address = AddressFactory(**fields)
    created_at = timezone.now() - timedelta(days=days_old)
    Address.objects.filter(pk=address.pk).update(created_at=created_at)
    address.created_at = created_at
    return address


def element_by_id(response, element_id: str) -> dict:
    return element(response, id=element_id)


def assert_untouched(address):
    address.refresh_from_db()
    assert address.verification_status == PENDING
    assert address.verified_by is None
    assert address.verified_at is None
    assert address.verification_notes == ""
    assert address.latitude is None
    assert address.longitude is None


@pytest.fixture
def verifier(client_with_perms):
    return client_with_perms("customers.view_address", "customers.change_address")


# Listing and counters


def test_queue_lists_pending_addresses_oldest_first(client_with_perms):
    middle = pending_address(days_old=5)
    newest = pending_address(days_old=1)
    oldest = pending_address(days_old=9)
    AddressFactory(verification_status=VERIFIED)
    AddressFactory(verification_status=REJECTED)

    response = client_with_perms("customers.view_address").get(QUEUE_URL)

    assert response.status_code == 200
    assert [a.pk for a in response.context["addresses"]] == [oldest.pk, middle.pk, newest.pk]
    body = response.content.decode()
    assert body.index(f'id="address-{oldest.pk}"') < body.index(f'id="address-{newest.pk}"')


def test_queue_row_shows_customer_kind_address_country_and_age(client_with_perms):
    customer = CustomerFactory(first_name="Ottilie", last_name="Brandvold")
    pending_address(
        days_old=3,
        customer=customer,
        kind=Address.Kind.BILLING,
        line1="12 Harbour Lane",
        city="Bergen",
        country="NO",
    )

    body = client_with_perms("customers.view_address").get(QUEUE_URL).content.decode()

    assert reverse("customers:detail", args=[customer.pk]) in body
    assert "Ottilie Brandvold" in body
    assert "Billing" in body
    assert "12 Harbour Lane" in body
    assert "Bergen" in body
    assert ">NO<" in body
    assert "waiting 3\xa0days" in body


def test_queue_counters(client_with_perms):
    pending_address()
    pending_address()
    now = timezone.now()
    AddressFactory(verification_status=VERIFIED, verified_at=now - timedelta(days=1))
    AddressFactory(verification_status=VERIFIED, verified_at=now - timedelta(days=2))
    AddressFactory(verification_status=VERIFIED, verified_at=now - timedelta(days=30))
    AddressFactory(verification_status=REJECTED, verified_at=now)

    response = client_with_perms("customers.view_address").get(QUEUE_URL)

    assert response.context["counts"] == {
        "pending": 2,
        "verified": 3,
        "rejected": 1,
        "verified_this_week": 2,
    }
    body = response.content.decode()
    assert 'data-counter="verified">3<' in body
    assert 'data-counter="verified_this_week">2<' in body


def test_queue_is_paginated_25_per_page(client_with_perms):
    addresses = [pending_address(days_old=40 - n) for n in range(30)]
    client = client_with_perms("customers.view_address")

    first = client.get(QUEUE_URL)
    second = client.get(QUEUE_URL, {"page": 2})
    beyond = client.get(QUEUE_URL, {"page": 9})

    assert [a.pk for a in first.context["addresses"]] == [a.pk for a in addresses[:25]]
    assert [a.pk for a in second.context["addresses"]] == [a.pk for a in addresses[25:]]
    assert beyond.status_code == 200
    assert beyond.context["page_obj"].number == 2


def test_a_queue_longer_than_the_cap_has_only_the_pages_within_it(client_with_perms, settings):
    settings.CRM_LIST_COUNT_CAP = 26
    addresses = [pending_address(days_old=40 - n) for n in range(30)]
    client = client_with_perms("customers.view_address")

    first = client.get(QUEUE_URL)
    past_the_cap = client.get(QUEUE_URL, {"page": 3})

    assert "Page 1 of 2+<" in first.content.decode()
    assert past_the_cap.context["page_obj"].number == 2
    assert [a.pk for a in past_the_cap.context["addresses"]] == [addresses[25].pk]


def test_empty_queue_says_so(client_with_perms):
    AddressFactory(verification_status=VERIFIED)

    response = client_with_perms("customers.view_address").get(QUEUE_URL)

    assert "Nothing to verify" in response.content.decode()


# Verify


def test_verify_with_notes_and_coordinates_records_who_and_when(client, user_with_perms):
    user = user_with_perms("customers.view_address", "customers.change_address")
    client.force_login(user)
    address = pending_address()
    before = timezone.now()

    response = client.post(
        verify_url(address),
        {"verification_notes": "Checked on the map", "latitude": "60.39", "longitude": "5.32"},
        follow=True,
    )

    address.refresh_from_db()
    assert address.verification_status == VERIFIED
    assert address.verified_by == user
    assert address.verified_at >= before
    assert address.verification_notes == "Checked on the map"
    assert address.latitude == Decimal("60.39")
    assert address.longitude == Decimal("5.32")
    assert response.redirect_chain == [(QUEUE_URL, 302)]
    assert f"Address of {address.customer} verified." in response.content.decode()


def test_verify_without_notes_keeps_stored_coordinates(verifier):
    address = pending_address(latitude=Decimal("10.5"), longitude=Decimal("20.25"))

    verifier.post(verify_url(address), {"verification_notes": "", "latitude": "", "longitude": ""})

    address.refresh_from_db()
    assert address.verification_status == VERIFIED
    assert address.latitude == Decimal("10.5")
    assert address.longitude == Decimal("20.25")


def test_plain_post_redirects_back_to_the_same_page(verifier):
    address = pending_address()

    response = verifier.post(f"{verify_url(address)}?page=3", {})

    assert response.status_code == 302
    assert response["Location"] == f"{QUEUE_URL}?page=3"


def test_verify_over_htmx_returns_the_confirmed_row_and_fresh_counters(verifier):
    address = pending_address(line1="7 Quay Street")
    pending_address()

    response = verifier.post(verify_url(address), {"verification_notes": "ok"}, **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert response.templates[0].name == "customers/partials/address_row.html"
    assert "customers/address_queue.html" not in [t.name for t in response.templates]
    assert "<html" not in body
    assert f'id="address-{address.pk}"' in body
    assert "<strong>Verified</strong>" in body
    assert "7 Quay Street" in body
    assert 'hx-swap-oob="innerHTML"' in body
    assert 'data-counter="pending">1<' in body
    assert 'data-counter="verified">1<' in body


def test_a_decision_is_announced_and_sends_focus_to_the_next_pending_row(verifier):
    address = pending_address()

    verified = verifier.post(verify_url(address), {}, **HTMX)

    assert announced(verified) == "Address verified"
    row = element_by_id(verified, f"address-{address.pk}")
    assert row["data-focus-next"] == "[data-row-focus]"
    assert row["data-focus-fallback"] == "#address-queue-heading"
    assert focused(verified) == []


def test_a_rejection_is_announced(verifier):
    address = pending_address()

    response = verifier.post(reject_url(address), {"verification_notes": "No such street"}, **HTMX)

    assert announced(response) == "Address rejected"


def test_each_rows_verify_button_is_where_focus_goes_and_names_the_address(verifier):
    address = pending_address(line1="9 Focus Lane")

    response = verifier.get(QUEUE_URL)

    [verify] = [attrs for _, attrs in elements(response) if "data-row-focus" in attrs]
    described_by = verify["aria-describedby"].split()
    assert described_by == [f"address-{address.pk}-customer", f"address-{address.pk}-lines"]
    for element_id in described_by:
        element_by_id(response, element_id)
    assert element_by_id(response, "address-queue-heading")["tabindex"] == "-1"
    assert "9 Focus Lane" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"latitude": "200", "longitude": "5"}, "latitude"),
        ({"latitude": "-91", "longitude": "5"}, "latitude"),
        ({"latitude": "45", "longitude": "-181"}, "longitude"),
        ({"latitude": "north", "longitude": "5"}, "latitude"),
    ],
)
def test_bad_coordinates_are_refused_at_the_field_over_htmx(verifier, data, field):
    address = pending_address()

    response = verifier.post(verify_url(address), {"verification_notes": "x", **data}, **HTMX)

    assert response.status_code == 200
    form = response.context["verify_form"]
    assert list(form.errors) == [field]
    body = response.content.decode()
    assert f'id="address-{address.pk}-verify-{field}"' in body
    assert "is-invalid" in body
    assert "<strong>Verified</strong>" not in body
    assert "hx-swap-oob" not in body
    field = element_by_id(response, f"address-{address.pk}-verify-{field}")
    assert field["aria-invalid"] == "true"
    assert element_by_id(response, field["aria-describedby"])["class"] == "invalid-feedback"
    assert focused(response) == [field]
    assert announced(response) == ""
    assert_untouched(address)


def test_bad_coordinates_without_htmx_re_render_the_queue_with_the_error(verifier):
    address = pending_address(line1="1 Error Road")

    response = verifier.post(verify_url(address), {"latitude": "200", "longitude": "5"})

    assert response.status_code == 200
    assert "customers/address_queue.html" in [t.name for t in response.templates]
    row = next(a for a in response.context["addresses"] if a.pk == address.pk)
    assert "latitude" in row.verify_form.errors
    body = response.content.decode()
    assert "Ensure this value is less than or equal to 90." in body
    assert f"The address of {address.customer} was not changed" in body
    assert_untouched(address)


def test_service_errors_land_on_the_form_field(verifier, monkeypatch):
    from django.core.exceptions import ValidationError

    from customers import services

    def refuse(**kwargs):
        raise ValidationError({"latitude": "Not on this planet.", "kind": "Bad kind."})

    monkeypatch.setattr(services, "address_verify", refuse)
    address = pending_address()

    response = verifier.post(verify_url(address), {"latitude": "1", "longitude": "1"}, **HTMX)

    form = response.context["verify_form"]
    assert form.errors["latitude"] == ["Not on this planet."]
    assert form.non_field_errors() == ["Bad kind."]
    assert "Bad kind." in response.content.decode()
    assert_untouched(address)


def test_an_address_decided_meanwhile_is_not_overwritten(verifier):
    other = UserFactory()
    address = AddressFactory(
        verification_status=REJECTED, verified_by=other, verification_notes="No such street"
    )

    response = verifier.post(verify_url(address), {"verification_notes": "fine"}, **HTMX)

    address.refresh_from_db()
    assert address.verification_status == REJECTED
    assert address.verified_by == other
    assert address.verification_notes == "No such street"
    assert "Already rejected" in response.content.decode()
    assert announced(response) == f"The address of {address.customer} was already rejected."


@pytest.mark.parametrize("address_pk", [999999, 10**20])
def test_verify_of_unknown_address_is_404(verifier, address_pk):
    response = verifier.post(reverse("customers:address_verify", args=[address_pk]), {})

    assert response.status_code == 404


def test_verify_needs_post(verifier):
    address = pending_address()

    response = verifier.get(verify_url(address))

    assert response.status_code == 405
    assert_untouched(address)


# Reject


def test_reject_with_reason_records_it(client, user_with_perms):
    user = user_with_perms("customers.view_address", "customers.change_address")
    client.force_login(user)
    address = pending_address()

    response = client.post(reject_url(address), {"verification_notes": "  No such street  "})

    address.refresh_from_db()
    assert response.status_code == 302
    assert address.verification_status == REJECTED
    assert address.verification_notes == "No such street"
    assert address.verified_by == user
    assert address.verified_at is not None


def test_reject_over_htmx_returns_the_rejected_row(verifier):
    address = pending_address()

    response = verifier.post(reject_url(address), {"verification_notes": "Moved away"}, **HTMX)

    body = response.content.decode()
    assert "<strong>Rejected</strong>" in body
    assert "Moved away" in body
    assert 'data-counter="rejected">1<' in body


@pytest.mark.parametrize("reason", ["", "   "])
def test_reject_requires_a_reason_at_the_field(verifier, reason):
    address = pending_address()

    response = verifier.post(reject_url(address), {"verification_notes": reason}, **HTMX)

    assert response.status_code == 200
    assert list(response.context["reject_form"].errors) == ["verification_notes"]
    body = response.content.decode()
    assert f'id="address-{address.pk}-reject-verification_notes"' in body
    assert "This field is required." in body
    assert "<details open>" in body
    field = element_by_id(response, f"address-{address.pk}-reject-verification_notes")
    assert field["aria-invalid"] == "true"
    assert element_by_id(response, field["aria-describedby"])["class"] == "invalid-feedback"
    assert focused(response) == [field]
    assert_untouched(address)


def test_reject_without_reason_and_without_htmx_re_renders_the_queue(verifier):
    address = pending_address()

    response = verifier.post(reject_url(address), {"verification_notes": ""})

    assert response.status_code == 200
    row = next(a for a in response.context["addresses"] if a.pk == address.pk)
    assert "verification_notes" in row.reject_form.errors
    assert "This field is required." in response.content.decode()
    assert_untouched(address)


def test_failed_row_is_shown_even_when_not_on_the_posted_page(verifier):
    addresses = [pending_address(days_old=40 - n) for n in range(30)]
    failing = addresses[0]

    response = verifier.post(f"{reject_url(failing)}?page=2", {"verification_notes": ""})

    rows = response.context["addresses"]
    assert rows[0].pk == failing.pk
    assert "verification_notes" in rows[0].reject_form.errors
    assert [a.pk for a in rows[1:]] == [a.pk for a in addresses[25:]]


# Bulk verify


def test_bulk_verify_touches_only_the_selected_pending_addresses(client, user_with_perms):
    user = user_with_perms("customers.view_address", "customers.change_address")
    client.force_login(user)
    first, second, left_alone = pending_address(), pending_address(), pending_address()
    earlier = UserFactory()
    rejected = AddressFactory(verification_status=REJECTED, verified_by=earlier)

    response = client.post(
        reverse("customers:addresses_verify_bulk"),
        {"address_ids": [first.pk, second.pk, rejected.pk, "junk", "²", "9" * 20]},
        follow=True,
    )

    for address in (first, second, left_alone, rejected):
        address.refresh_from_db()
    assert (first.verification_status, first.verified_by) == (VERIFIED, user)
    assert (second.verification_status, second.verified_by) == (VERIFIED, user)
    assert left_alone.verification_status == PENDING
    assert (rejected.verification_status, rejected.verified_by) == (REJECTED, earlier)
    assert response.redirect_chain == [(QUEUE_URL, 302)]
    assert "2 addresses verified" in response.content.decode()


def test_bulk_verify_over_htmx_announces_the_count_and_focuses_the_heading(verifier):
    first, second, left_alone = pending_address(), pending_address(), pending_address()

    response = verifier.post(
        f"{reverse('customers:addresses_verify_bulk')}?page=1",
        {"address_ids": [first.pk, second.pk]},
        **HTMX,
    )

    assert response.status_code == 200
    assert announced(response) == "2 addresses verified"
    body = response.content.decode()
    assert 'id="address-queue-page"' in body
    assert "2 addresses verified." in body  # shown above the list too
    [heading] = focused(response)
    assert heading["id"] == "address-queue-heading"
    assert [a.pk for a in response.context["addresses"]] == [left_alone.pk]
    left_alone.refresh_from_db()
    assert left_alone.verification_status == PENDING


def test_bulk_verify_over_htmx_with_nothing_selected_says_so_at_the_checkboxes(verifier):
    address = pending_address()

    response = verifier.post(reverse("customers:addresses_verify_bulk"), {}, **HTMX)

    assert announced(response) == "Select the addresses to verify first"
    [select_all] = focused(response)
    assert select_all["id"] == "select-all-addresses"
    assert_untouched(address)


def test_bulk_verify_with_nothing_selected_writes_nothing(verifier):
    address = pending_address()

    response = verifier.post(reverse("customers:addresses_verify_bulk"), {}, follow=True)

    assert "Select the addresses to verify first." in response.content.decode()
    assert_untouched(address)


def test_bulk_form_and_row_checkboxes_belong_together(verifier):
    address = pending_address()

    body = verifier.get(QUEUE_URL).content.decode()

    assert 'id="bulk-verify" method="post"' in body
    assert f'action="{reverse("customers:addresses_verify_bulk")}?page=1"' in body
    assert f'hx-post="{reverse("customers:addresses_verify_bulk")}?page=1"' in body
    assert 'hx-select="#address-queue-page"' in body
    assert re.search(rf'name="address_ids" value="{address.pk}"\s+form="bulk-verify"', body)
    assert "Verify selected" in body


# Permissions


def test_anonymous_user_is_sent_to_log_in(client):
    address = pending_address()

    page = client.get(QUEUE_URL)
    verify = client.post(verify_url(address), {})
    bulk = client.post(reverse("customers:addresses_verify_bulk"), {"address_ids": [address.pk]})

    login = reverse("login")
    assert page.status_code == verify.status_code == bulk.status_code == 302
    assert page["Location"].startswith(login)
    assert verify["Location"].startswith(login)
    assert bulk["Location"].startswith(login)
    assert_untouched(address)


def test_user_without_permission_gets_403_and_no_data(client_with_perms):
    pending_address(customer=CustomerFactory(first_name="Zebulon", last_name="Quackenbush"))

    response = client_with_perms("customers.view_customer").get(QUEUE_URL)

    assert response.status_code == 403
    assert "Quackenbush" not in response.content.decode()


def test_viewer_without_change_permission_sees_no_actions_and_cannot_post(client_with_perms):
    address = pending_address()
    client = client_with_perms("customers.view_address")

    page = client.get(QUEUE_URL).content.decode()
    verify = client.post(verify_url(address), {}, **HTMX)
    reject = client.post(reject_url(address), {"verification_notes": "no"})
    bulk = client.post(reverse("customers:addresses_verify_bulk"), {"address_ids": [address.pk]})

    assert str(address.customer) in page
    assert "Verify selected" not in page
    assert verify_url(address) not in page
    assert reject_url(address) not in page
    assert verify.status_code == reject.status_code == bulk.status_code == 403
    assert_untouched(address)


def test_support_group_can_verify(client_in_group):
    client = client_in_group("Support")
    address = pending_address()

    page = client.get(QUEUE_URL)
    response = client.post(verify_url(address), {}, **HTMX)

    address.refresh_from_db()
    assert page.status_code == 200
    assert "Verify selected" in page.content.decode()
    assert response.status_code == 200
    assert address.verification_status == VERIFIED


def test_marketing_group_gets_403_on_the_queue(client_in_group):
    pending_address(customer=CustomerFactory(last_name="Quackenbush"))

    response = client_in_group("Marketing").get(QUEUE_URL)

    assert response.status_code == 403
    assert "Quackenbush" not in response.content.decode()


# Query count


def test_queue_query_count_is_pinned(verifier, assert_queries):
    for n in range(30):
        pending_address(days_old=30 - n)
    AddressFactory(verification_status=VERIFIED, verified_at=timezone.now())

    with assert_queries(QUEUE_QUERIES) as queries:
        response = verifier.get(QUEUE_URL)

    assert len(response.context["addresses"]) == 25
    count = queries.captured_queries[2]["sql"]
    assert count.startswith("SELECT COUNT(*) FROM (SELECT")
    assert "LIMIT 1001" in count


def test_queue_query_count_does_not_grow_with_the_rows(verifier):
    pending_address()
    with CaptureQueriesContext(connection) as one_row:
        verifier.get(QUEUE_URL)
    for n in range(29):
        pending_address(days_old=n)
    with CaptureQueriesContext(connection) as full_page:
        verifier.get(QUEUE_URL)

    assert len(full_page) == len(one_row)
