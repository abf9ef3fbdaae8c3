"""Loyalty on the delivery path: same transaction, and a pinned number of added queries."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers import services as customer_services
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty.models import LoyaltyAccount, LoyaltyTransaction
from loyalty.tests.factories import LoyaltyProgramFactory, standard_tiers

pytestmark = pytest.mark.django_db


def delivery_queries(order) -> int:
    with CaptureQueriesContext(connection) as captured:
        customer_services.order_set_status(order=order, status="delivered")
    return len(captured.captured_queries)


def test_one_program_adds_a_pinned_number_of_queries():
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered")  # warms up nothing shared; same shape
    without_program = delivery_queries(OrderFactory(customer=customer))
    program = LoyaltyProgramFactory()
    standard_tiers(program)
    OrderFactory(customer=customer, status="delivered")  # enrols: the next one is the usual case

    with_program = delivery_queries(OrderFactory(customer=customer, total=Decimal("75")))

    assert LoyaltyAccount.objects.get(customer=customer).lifetime_earned > 0
    assert with_program - without_program <= 10, with_program - without_program
    assert with_program <= 20


def test_added_queries_do_not_grow_with_the_ledger():
    program = LoyaltyProgramFactory()
    standard_tiers(program)
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered")
    small = delivery_queries(OrderFactory(customer=customer))
    for _ in range(40):
        OrderFactory(customer=customer, status="delivered")

    assert delivery_queries(OrderFactory(customer=customer)) == small


def test_a_failing_earn_rolls_back_the_delivery(monkeypatch):
    from loyalty import services

    LoyaltyProgramFactory()
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, total=Decimal("10"))

    def explode(**kwargs):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(services, "loyalty_order_earn", explode)
    with pytest.raises(RuntimeError):
        customer_services.order_set_status(order=order, status="delivered")

    order.refresh_from_db()
    customer.refresh_from_db()
    assert order.status == "pending"
    assert customer.order_count == 0
    assert not LoyaltyTransaction.objects.exists()
