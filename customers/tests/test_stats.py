"""customers/stats.py: the one definition of a customer's stats and the ways to keep it."""

import threading
from decimal import Decimal

import pytest
from django.db import connections, transaction

from customers import services, stats
from customers.models import Customer, Order
from customers.tests.factories import CustomerFactory, OrderFactory


def stored(customer: Customer) -> tuple:
    customer.refresh_from_db()
    return (customer.order_count, customer.total_spent, customer.total_items)


def delivered_aggregate(customer: Customer) -> tuple:
    orders = Order.objects.filter(customer=customer, status=Order.Status.DELIVERED)
    return (
        orders.count(),
        sum((order.total for order in orders), Decimal("0")),
        sum(order.item_count for order in orders),
    )


@pytest.mark.django_db
def test_refresh_sets_one_customer_from_their_delivered_orders_and_zeroes_without_any():
    customer, other = CustomerFactory(), CustomerFactory()
    OrderFactory(customer=customer, status="delivered", total=Decimal("20.00"), item_count=2)
    OrderFactory(customer=customer, status="delivered", total=Decimal("5.50"))
    OrderFactory(customer=other, status="delivered", total=Decimal("99.00"))
    Customer.objects.filter(pk=customer.pk).update(order_count=9, total_spent=1)

    stats.customer_stats_refresh(customer_id=customer.pk)

    assert stored(customer) == (2, Decimal("25.50"), 3)
    customer.refresh_from_db()
    assert customer.average_order_value == Decimal("12.75")
    Order.objects.filter(customer=customer).update(status="returned")
    stats.customer_stats_refresh(customer_id=customer.pk)
    assert stored(customer) == (0, Decimal("0"), 0)
    customer.refresh_from_db()
    assert customer.first_order_at is None and customer.last_order_at is None
    assert stored(other) == (1, Decimal("99.00"), 1)


@pytest.mark.django_db
def test_a_summary_finds_the_customers_who_drifted_and_writes_only_them():
    right, wrong, emptied = CustomerFactory(), CustomerFactory(), CustomerFactory()
    for customer in (right, wrong, emptied):
        OrderFactory(customer=customer, status="delivered", total=Decimal("10.00"))
    Customer.objects.filter(pk=wrong.pk).update(total_spent=Decimal("3.00"))
    Order.objects.filter(customer=emptied).update(status="cancelled")  # a bulk path, no save()

    with stats.StatsSummary("test_summary").create() as summary:
        assert summary.drifted_customer_ids() == sorted([wrong.pk, emptied.pk])
        assert summary.rows(["customer_id", "order_count"]) == [(right.pk, 1), (wrong.pk, 1)]
        assert summary.write() == 2
        assert summary.drifted_customer_ids() == []

    assert stored(wrong) == (1, Decimal("10.00"), 1)
    assert stored(emptied) == (0, Decimal("0"), 0)


@pytest.mark.django_db
def test_recompute_returns_the_drift_and_aligns_the_flags():
    customer = CustomerFactory()
    order = OrderFactory(customer=customer)
    Order.objects.filter(pk=order.pk).update(status="delivered")  # skips the delivery path

    assert stats.customer_stats_recompute(customer_ids=[customer.pk]) == 1
    assert Order.objects.get(pk=order.pk).stats_applied
    assert stats.customer_stats_recompute(customer_ids=[customer.pk]) == 0
    services.order_set_status(order=Order.objects.get(pk=order.pk), status="returned")
    assert stored(customer) == (0, Decimal("0"), 0)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_delivery_during_a_recompute_of_everyone_is_not_lost(monkeypatch):
    """The recompute of everyone holds the customer table against writes from before its
    aggregate until it commits, so a delivery in between waits and then adds to the result."""
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered", total=Decimal("10.00"))
    late = OrderFactory(customer=customer, total=Decimal("7.00"))
    summarised, delivered = threading.Event(), threading.Event()
    create = stats.StatsSummary.create

    def create_then_wait(self, **kwargs):
        summary = create(self, **kwargs)
        summarised.set()
        delivered.wait(timeout=2)  # a delivery that is not held off commits in this window
        return summary

    monkeypatch.setattr(stats.StatsSummary, "create", create_then_wait)
    errors = []

    def recompute():
        try:
            stats.customer_stats_recompute()
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    def deliver():
        try:
            summarised.wait(timeout=10)
            with transaction.atomic():
                services.order_set_status(order=late, status="delivered")
            delivered.set()
        except Exception as error:  # noqa: BLE001
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recompute), threading.Thread(target=deliver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert stored(customer) == delivered_aggregate(customer) == (2, Decimal("17.00"), 2)
