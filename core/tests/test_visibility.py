"""The visibility selector: every staff page gets its customers (and their rows) from it."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db.models import Q
from django.urls import reverse

from core import visibility
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_an_active_staff_user_sees_every_customer_and_their_rows():
    customers = CustomerFactory.create_batch(2)
    order = OrderFactory(customer=customers[0])
    note = NoteFactory(customer=customers[1])
    address = AddressFactory(customer=customers[0])
    user = UserFactory()

    assert set(visibility.customers_visible_to(user)) == set(customers)
    assert list(visibility.orders_visible_to(user)) == [order]
    assert list(visibility.notes_visible_to(user)) == [note]
    assert list(visibility.addresses_visible_to(user)) == [address]


@pytest.mark.parametrize("who", ["anonymous", "inactive"])
def test_nobody_else_sees_a_customer_and_the_database_is_not_asked(who, django_assert_num_queries):
    OrderFactory()
    user = AnonymousUser() if who == "anonymous" else UserFactory(is_active=False)

    with django_assert_num_queries(0):
        assert list(visibility.customers_visible_to(user)) == []
        assert list(visibility.orders_visible_to(user)) == []


@pytest.fixture
def hide_customer(monkeypatch):
    """Plug a rule into the selector that hides one customer, as a per-store rule would."""
    rule = visibility.customer_filter

    def hide(customer_id: int) -> None:
        def without(user, via=""):
            prefix = f"{via}__" if via else ""
            return rule(user, via) & ~Q(**{f"{prefix}pk": customer_id})

        monkeypatch.setattr(visibility, "customer_filter", without)

    return hide


def test_a_page_reads_customers_through_the_selector(client_with_perms, hide_customer):
    """A rule added to the selector reaches the pages without touching them."""
    shown, hidden = CustomerFactory(first_name="Shown"), CustomerFactory(first_name="Hidden")
    hide_customer(hidden.pk)
    client = client_with_perms(
        "customers.view_customer", "customers.change_customer", "customers.view_order"
    )

    listing = client.get(reverse("customers:list"))
    assert [c.pk for c in listing.context["customers"]] == [shown.pk]
    assert client.get(reverse("customers:detail", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("customers:update", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("customers:orders", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("customers:detail", args=[shown.pk])).status_code == 200


def test_loyalty_pages_read_customers_through_the_selector(client_with_perms, hide_customer):
    from loyalty.tests.factories import LoyaltyAccountFactory, LoyaltyProgramFactory

    program = LoyaltyProgramFactory()
    hidden = LoyaltyAccountFactory(program=program)
    shown = LoyaltyAccountFactory(program=program)
    hide_customer(hidden.customer_id)
    client = client_with_perms(
        "customers.view_customer",
        "loyalty.view_loyaltyaccount",
        "loyalty.add_loyaltyaccount",
        "loyalty.add_redemption",
    )

    assert client.get(reverse("loyalty:redeem", args=[hidden.pk])).status_code == 404
    assert client.get(reverse("loyalty:redeem", args=[shown.pk])).status_code == 200
    hidden_options = reverse("loyalty:enrol_options", args=[hidden.customer_id])
    assert client.get(hidden_options).status_code == 404


def test_bulk_address_verification_leaves_hidden_customers_alone(client_with_perms, hide_customer):
    shown, hidden = AddressFactory(), AddressFactory()
    hide_customer(hidden.customer_id)
    client = client_with_perms("customers.view_address", "customers.change_address")

    client.post(reverse("customers:addresses_verify_bulk"), {"address_ids": [shown.pk, hidden.pk]})

    shown.refresh_from_db()
    hidden.refresh_from_db()
    assert (shown.verification_status, hidden.verification_status) == ("verified", "pending")
