"""Orders with their items through the order resource and the admin's import views."""

from decimal import Decimal
from pathlib import Path

import pytest
import tablib
from django.utils import timezone

from customers import services
from customers.models import Customer, Order, OrderItem
from customers.resources import OrderResource
from customers.tests.factories import CustomerFactory
from loyalty.models import LoyaltyAccount
from loyalty.tests.factories import LoyaltyProgramFactory, standard_tiers

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.django_db


def dataset(name: str) -> tablib.Dataset:
    return tablib.Dataset().load((DATA / name).read_text(encoding="utf-8"), format="csv")


@pytest.fixture
def buyers():
    return (
        CustomerFactory(external_id="ext-1", email="bo@example.com"),
        CustomerFactory(external_id="", email="ana@example.com"),
    )


def import_orders(name: str, *, dry_run: bool = False):
    return OrderResource().import_data(
        dataset(name), dry_run=dry_run, use_transactions=True, rollback_on_validation_errors=True
    )


def problems(result) -> list[str]:
    return [str(problem) for problem in OrderResource().problems(result)]


def test_new_orders_are_created_with_their_items_and_customers(buyers):
    result = import_orders("orders.csv")

    assert not result.has_errors() and not result.has_validation_errors()
    assert result.totals["new"] == 4
    first = Order.objects.get(number="A-1001")
    assert first.customer == buyers[0]
    assert first.total == Decimal("57.00")
    assert (first.discount_total, first.shipping_total, first.tax_total) == (
        Decimal("5.00"),
        Decimal("4.00"),
        Decimal("3.00"),
    )
    assert first.item_count == 3
    assert [item.sku for item in first.items.all()] == ["TEE-1", "CAP-1"]
    second = Order.objects.get(number="A-1002")
    assert second.customer == buyers[1]  # by email in another letter case
    assert second.total == Decimal("37.50")  # computed from the items
    assert Order.objects.get(number="A-1003").currency == "USD"


def test_delivered_orders_count_in_stats_and_loyalty_as_one_by_one(buyers):
    program = LoyaltyProgramFactory(points_per_unit=Decimal("1"))
    standard_tiers(program)
    twins = (
        CustomerFactory(external_id="twin-1", email="t1@example.com"),
        CustomerFactory(email="t2@example.com"),
    )
    for row in dataset("orders.csv").dict:
        owner = twins[0] if row["customer"] == "ext-1" else twins[1]
        lines = OrderResource().fields["items"].widget.clean(row["items"]) or []
        placed_at = timezone.make_aware(timezone.datetime.fromisoformat(row["placed_at"]))
        services.order_create(
            customer=owner,
            number=f"one-by-one-{row['number']}",
            status=row["status"],
            placed_at=placed_at,
            items=lines,
            total=Decimal(row["total"]) if row["total"] else None,
            discount_total=Decimal(row.get("discount_total") or 0),
            shipping_total=Decimal(row.get("shipping_total") or 0),
            tax_total=Decimal(row.get("tax_total") or 0),
        )

    result = import_orders("orders.csv")

    assert not result.has_errors() and not result.has_validation_errors()
    for imported, delivered in zip(buyers, twins, strict=True):
        imported.refresh_from_db()
        delivered.refresh_from_db()
        for name in Customer.STATS_FIELDS:
            assert getattr(imported, name) == getattr(delivered, name), name
        account = LoyaltyAccount.objects.get(customer=imported, program=program)
        twin_account = LoyaltyAccount.objects.get(customer=delivered, program=program)
        assert account.balance + account.pending_points > 0
        assert (account.balance, account.pending_points, account.lifetime_earned) == (
            twin_account.balance,
            twin_account.pending_points,
            twin_account.lifetime_earned,
        )
        assert account.tier_id == twin_account.tier_id


def test_bad_rows_are_refused_with_their_column_and_nothing_is_written(buyers):
    result = import_orders("orders_bad.csv")

    assert problems(result) == [
        "row 2, total: '-5.00' cannot be negative",
        "row 3, customer: no customer has the external ID or email “nobody@example.com”",
        "row 4, status: “shipped-ish” is not an order status "
        "(pending, paid, processing, shipped, delivered, cancelled, returned, refunded)",
    ]
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()


def test_export_then_import_reports_no_change(buyers):
    import_orders("orders.csv")
    exported = OrderResource().export()

    again = OrderResource().import_data(
        tablib.Dataset().load(exported.csv, format="csv"), dry_run=True
    )

    assert problems(again) == []
    assert again.totals["skip"] == 4
    assert again.totals["update"] == again.totals["new"] == 0


def test_an_existing_order_moves_status_through_the_allowed_moves(buyers):
    import_orders("orders.csv")
    bo = Customer.objects.get(pk=buyers[0].pk)
    rows = tablib.Dataset(headers=["number", "customer", "status", "placed_at", "total"])
    rows.append(["A-1003", "ext-1", "returned", "2026-02-01 09:15:00", "120.00"])
    rows.append(["A-1004", "ana@example.com", "delivered", "2026-02-03 09:15:00", "30.00"])

    result = OrderResource().import_data(
        rows, use_transactions=True, rollback_on_validation_errors=True
    )

    assert not result.has_errors() and not result.has_validation_errors()
    assert Order.objects.get(number="A-1003").status == Order.Status.RETURNED
    assert Order.objects.get(number="A-1004").status == Order.Status.DELIVERED
    bo.refresh_from_db()
    assert bo.order_count == 1 and bo.total_spent == Decimal("57.00")


def test_a_refused_move_and_a_changed_delivered_total_are_named(buyers):
    import_orders("orders.csv")
    rows = tablib.Dataset(headers=["number", "customer", "status", "placed_at", "total"])
    rows.append(["A-1001", "ext-1", "delivered", "2026-01-05 10:00:00", "99.00"])
    rows.append(["A-1004", "ana@example.com", "returned", "2026-02-03 09:15:00", "30.00"])

    result = OrderResource().import_data(
        rows, use_transactions=True, rollback_on_validation_errors=True
    )

    assert problems(result) == [
        "row 2, total: order A-1001 is delivered: its total cannot change. Return it first",
        "row 2, total: The total 99.00 does not match the items: "
        "55.00 - discount 5.00 + shipping 4.00 + tax 3.00 = 57.00",
        "row 3, status: An order cannot move from pending to returned",
    ]
    assert Order.objects.get(number="A-1004").status == Order.Status.PENDING


def test_an_order_twice_in_one_file_is_refused(buyers):
    rows = tablib.Dataset(headers=["number", "customer", "placed_at", "total"])
    rows.append(["D-1", "ext-1", "2026-02-03 09:15:00", "30.00"])
    rows.append(["D-1", "ext-1", "2026-02-03 09:15:00", "30.00"])

    result = OrderResource().import_data(
        rows, use_transactions=True, rollback_on_validation_errors=True
    )

    assert problems(result) == ["row 3, number: 'D-1' is the same record as row 2"]
    assert not Order.objects.exists()
