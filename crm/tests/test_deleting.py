"""Deleting orders and customers: nothing delivered disappears with its points still spendable,
and nothing cascades silently."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db.models import ProtectedError
from django.urls import reverse

from customers import services
from customers.models import Customer, Order
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty.models import LoyaltyAccount, LoyaltyTransaction
from loyalty.selectors import account_books
from loyalty.tests.factories import LoyaltyAccountFactory, LoyaltyProgramFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivered():
    """A delivered order of a loyalty member: counted in the stats, 120 points earned."""
    LoyaltyProgramFactory(points_per_unit=Decimal("1"))
    order = OrderFactory(customer=CustomerFactory(), total=Decimal("120.00"))
    services.order_set_status(order=order, status="delivered")
    return order


def test_the_service_refuses_a_delivered_order_and_deletes_any_other(delivered):
    with pytest.raises(ValidationError) as refusal:
        services.order_delete(order=delivered)

    assert "return or cancel it first" in refusal.value.message_dict["status"][0]
    assert Order.objects.filter(pk=delivered.pk).exists()
    pending = OrderFactory(customer=delivered.customer)
    services.order_delete(order=pending)
    assert not Order.objects.filter(pk=pending.pk).exists()


def test_a_delivered_order_deleted_anyway_takes_its_points_and_stats_back(delivered):
    customer = delivered.customer
    account = LoyaltyAccount.objects.get(customer=customer)
    assert account.balance == 120

    Order.objects.get(pk=delivered.pk).delete()  # the ORM, a script: no service in the way

    account.refresh_from_db()
    customer.refresh_from_db()
    assert (account.balance, account.lifetime_earned) == (0, 0)
    assert account_books(account.pk).problems() == []
    assert not LoyaltyTransaction.objects.filter(account=account, kind="earn", reversed=False)
    assert (customer.order_count, customer.total_spent) == (0, Decimal("0"))


def test_the_admin_will_not_delete_a_delivered_order(admin_client, delivered):
    url = reverse("admin:customers_order_delete", args=[delivered.pk])

    page = admin_client.get(url).content.decode()
    admin_client.post(url, {"post": "yes"})
    admin_client.post(
        reverse("admin:customers_order_changelist"),
        {"action": "delete_selected", "_selected_action": [delivered.pk], "post": "yes"},
    )

    assert "return or cancel it first" in page
    assert Order.objects.filter(pk=delivered.pk).exists()


def test_a_customer_with_orders_or_a_ledger_is_not_deleted(admin_client, delivered):
    buyer = delivered.customer
    member = LoyaltyAccountFactory().customer  # a ledger, no order
    plain = CustomerFactory()

    page = admin_client.get(reverse("admin:customers_customer_delete", args=[buyer.pk]))
    admin_client.post(reverse("admin:customers_customer_delete", args=[buyer.pk]), {"post": "yes"})

    assert "use Delete on the customer" in page.content.decode()
    assert Customer.objects.filter(pk=buyer.pk).exists()
    with pytest.raises(ProtectedError):
        Customer.objects.get(pk=member.pk).delete()
    plain.delete()  # notes, addresses and tags alone do not keep a customer
    assert not Customer.objects.filter(pk=plain.pk).exists()
