"""The sales rollup: per day, delivered revenue and orders and first-time buyers, so that the
dashboard's twelve-month charts do not aggregate millions of orders on every visit.

The nightly chain rebuilds every day before today (``sales_days_rebuild``). The dashboard reads
the rollup for those days and counts the days since from the orders themselves, so today is
always live; a change to an older order (a late return) reaches the charts at the next rebuild,
and the chart says when that was.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from customers.models import Customer, Order, SalesDay


def start_of_day(day: date) -> datetime:
    """Midnight at the start of ``day`` in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


@transaction.atomic
def sales_days_rebuild(*, today: date | None = None) -> int:
    """Rebuild the rollup for every day before ``today`` (default: today in the shop's time
    zone), in one transaction: readers see the old rollup or the new one. Returns the days."""
    today = today or timezone.localdate()
    before = start_of_day(today)
    days: dict[date, SalesDay] = {}
    now = timezone.now()

    def day_row(day: date) -> SalesDay:
        return days.setdefault(day, SalesDay(day=day, rebuilt_on=today, rebuilt_at=now))

    delivered = (
        Order.objects.filter(status=Order.Status.DELIVERED, placed_at__lt=before)
        .annotate(day=TruncDate("placed_at"))
        .values("day")
        .annotate(revenue=Sum("total"), orders=Count("id"))
        .order_by()
    )
    for row in delivered:
        day = day_row(row["day"])
        day.revenue, day.orders = row["revenue"], row["orders"]
    first_orders = (
        Customer.objects.filter(first_order_at__lt=before)
        .annotate(day=TruncDate("first_order_at"))
        .values("day")
        .annotate(customers=Count("id"))
        .order_by()
    )
    for row in first_orders:
        day_row(row["day"]).new_customers = row["customers"]
    SalesDay.objects.all().delete()
    SalesDay.objects.bulk_create(days.values(), batch_size=1000)
    return len(days)


@dataclass(frozen=True)
class SalesRollup:
    """The rollup's days in a window, and the day it stops at (the live part starts there)."""

    days: list[SalesDay]
    live_from: date
    rebuilt_at: datetime | None

    def live_since(self) -> datetime:
        return start_of_day(self.live_from)


def sales_rollup(*, start: date) -> SalesRollup:
    """The rollup's days from ``start`` (one query). With none (no rollup yet, or no sale in
    the window before it was rebuilt), every day is counted live."""
    days = list(SalesDay.objects.filter(day__gte=start))
    if not days:
        return SalesRollup(days=[], live_from=start, rebuilt_at=None)
    return SalesRollup(days=days, live_from=days[0].rebuilt_on, rebuilt_at=days[0].rebuilt_at)


def by_month(rows: Iterable[tuple[date, Decimal | int]]) -> dict[date, Decimal | int]:
    """Sum (day, amount) pairs by the first day of their month."""
    months: dict[date, Decimal | int] = {}
    for day, amount in rows:
        month = day.replace(day=1)
        months[month] = months.get(month, 0) + (amount or 0)
    return months
