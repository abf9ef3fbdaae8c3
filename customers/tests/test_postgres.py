"""What only PostgreSQL does: row locks under real concurrency, and trigram search indexes."""

import threading
import time
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction

from customers import services, stats
from customers.models import Customer, Order
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_concurrently(*jobs, hold_seconds=0.3):
    """Run each job in its own thread (so its own connection) inside a transaction that stays
    open a moment after the job's writes, so the others really meet its row locks."""
    start = threading.Barrier(len(jobs))
    errors = []

    def worker(job):
        try:
            start.wait()
            with transaction.atomic():
                job()
                time.sleep(hold_seconds)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_two_concurrent_plain_saves_of_one_delivery_count_once():
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, total=Decimal("80.00"))

    def deliver():
        mine = Order.objects.get(pk=order.pk)  # each connection loads its own, undelivered copy
        mine.status = Order.Status.DELIVERED
        mine.save()

    errors = run_concurrently(deliver, deliver)

    assert errors == []
    customer.refresh_from_db()
    assert customer.order_count == 1
    assert customer.total_spent == Decimal("80.00")


def test_two_concurrent_service_deliveries_of_one_order_count_once():
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, total=Decimal("80.00"))

    def deliver():
        services.order_set_status(order=Order.objects.get(pk=order.pk), status="delivered")

    run_concurrently(deliver, deliver)

    customer.refresh_from_db()
    assert customer.order_count == 1
    assert Order.objects.get(pk=order.pk).status_changes.count() == 1


def test_two_orders_of_one_customer_delivered_at_once_both_count():
    customer = CustomerFactory()
    first = OrderFactory(customer=customer, total=Decimal("10.00"), item_count=1)
    second = OrderFactory(customer=customer, total=Decimal("32.00"), item_count=2)

    errors = run_concurrently(
        lambda: services.order_set_status(order=first, status="delivered"),
        lambda: services.order_set_status(order=second, status="delivered"),
    )

    assert errors == []
    customer.refresh_from_db()
    assert customer.order_count == 2
    assert customer.total_spent == Decimal("42.00")
    assert customer.total_items == 3
    assert customer.average_order_value == Decimal("21.00")
    assert stats.customer_stats_recompute(customer_ids=[customer.pk]) == 0


@pytest.mark.parametrize("column", ["first_name", "last_name", "email", "phone", "external_id"])
def test_customer_search_uses_the_trigram_index(column):
    CustomerFactory.create_batch(3)
    queryset = Customer.objects.filter(**{f"{column}__icontains": "555"})

    # Only a scan with an index condition is left to the planner (a tiny table's costs would
    # otherwise let it walk any index and filter), so the plan shows whether one serves.
    switches = ("enable_seqscan", "enable_indexscan", "enable_indexonlyscan")
    with connection.cursor() as cursor:
        for switch in switches:
            cursor.execute(f"SET {switch} = off")
        plan = queryset.explain()
        for switch in switches:
            cursor.execute(f"RESET {switch}")

    assert f"customer_{column}_trgm_idx" in plan


def _vacuum_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_force_next_flush()")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'customers_customer'"
        )
        return cursor.fetchone()[0]


def test_the_nightly_chain_vacuums_the_customer_table_after_the_run():
    from customers.analytics.tasks import analytics_chain

    for customer in CustomerFactory.create_batch(3):
        OrderFactory(customer=customer, status="delivered")
    before = _vacuum_count()

    analytics_chain().apply_async()

    assert _vacuum_count() == before + 1
