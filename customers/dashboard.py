"""The customers app's reads for the dashboard and the cards it registers there.

Each read is one query whatever the number of customers and orders, so the dashboard's query
count stays the same as the shop grows. Figures are over delivered orders: the customer stats
columns every order status change keeps current, and delivered orders by the month they were
placed.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Count, DateField, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.http import HttpRequest
from django.utils import timezone
from django.utils.formats import date_format

from core import registry
from core.visibility import customers_visible_to, orders_visible_to
from customers import selectors
from customers.analytics.panels import latest_run_for
from customers.models import Customer, Order
from customers.sales import SalesRollup, by_month, sales_rollup, start_of_day

CHART_MONTHS = 12
TOP_CUSTOMERS = 10

CENT = Decimal("0.01")


@dataclass(frozen=True)
class MonthWindow:
    """Consecutive calendar months in the current time zone, oldest first, and the instants
    [start, end) that they span."""

    months: list[date]
    start: datetime
    end: datetime

    @classmethod
    def ending_at(cls, now: datetime, count: int) -> "MonthWindow":
        local = timezone.localtime(now)
        last = local.year * 12 + local.month - 1
        firsts = [
            date(index // 12, index % 12 + 1, 1) for index in range(last - count + 1, last + 2)
        ]
        return cls(months=firsts[:-1], start=start_of_day(firsts[0]), end=start_of_day(firsts[-1]))


def _cents(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def customer_kpis(customers: QuerySet[Customer], *, now: datetime | None = None) -> dict[str, Any]:
    """Customer counts, average predicted CLV, average order value and repeat rate, in one query.

    ``average_clv`` is None until the nightly analytics run has scored a customer;
    ``average_order_value`` and ``repeat_rate`` (a percentage) are None before the first delivery.
    """
    return kpis_from_totals(selectors.customer_totals(customers, now=now))


def kpis_from_totals(totals: dict[str, Any]) -> dict[str, Any]:
    """The figures the card shows, from selectors.customer_totals (live, or as a run recorded
    them: amounts are strings there)."""
    revenue = _cents(Decimal(totals["revenue"]))
    delivered_orders = totals["delivered_orders"]
    buyers = totals["buyers"]
    average_clv = totals["average_clv"]
    return {
        **totals,
        "revenue": revenue,
        "average_clv": None if average_clv is None else _cents(Decimal(average_clv)),
        "average_order_value": _cents(revenue / delivered_orders) if delivered_orders else None,
        "repeat_rate": (
            (Decimal(totals["repeat_buyers"] * 100) / buyers).quantize(Decimal("0.1"))
            if buyers
            else None
        ),
    }


def follow_up_counts(user, *, today: date | None = None) -> dict[str, int]:
    """Open follow-ups dated today or earlier, and how many of them are overdue, in one query."""
    today = today or timezone.localdate()
    return selectors.follow_ups_due(user, today=today).aggregate(
        due=Count("id"), overdue=Count("id", filter=Q(follow_up_on__lt=today))
    )


def _rollup_days(rollup: SalesRollup, window: MonthWindow) -> list:
    first, end = window.months[0], timezone.localtime(window.end).date()
    return [day for day in rollup.days if first <= day.day < end]


def revenue_by_month(
    orders: QuerySet[Order],
    *,
    now: datetime | None = None,
    months: int = CHART_MONTHS,
    rollup: SalesRollup | None = None,
) -> list[dict]:
    """Revenue and number of delivered orders per month, by the month the order was placed.

    Every month of the window is present, oldest first, with zeros where nothing was delivered.
    The days the nightly sales rollup covers come from it; the days since are counted from the
    orders (two queries whatever the number of orders).
    """
    window = MonthWindow.ending_at(now or timezone.now(), months)
    rollup = rollup or sales_rollup(start=window.months[0])
    rows = (
        orders.filter(
            status=Order.Status.DELIVERED,
            placed_at__gte=max(window.start, rollup.live_since()),
            placed_at__lt=window.end,
        )
        .annotate(month=TruncMonth("placed_at", output_field=DateField()))
        .values("month")
        .annotate(revenue=Sum("total"), orders=Count("id"))
        .order_by("month")
    )
    days = _rollup_days(rollup, window)
    revenue = by_month([(day.day, day.revenue) for day in days])
    counts = by_month([(day.day, day.orders) for day in days])
    for row in rows:
        revenue[row["month"]] = revenue.get(row["month"], 0) + row["revenue"]
        counts[row["month"]] = counts.get(row["month"], 0) + row["orders"]
    return [
        {
            "month": month,
            "revenue": _cents(revenue[month]) if month in revenue else Decimal("0.00"),
            "orders": counts.get(month, 0),
        }
        for month in window.months
    ]


def new_customers_by_month(
    customers: QuerySet[Customer],
    *,
    now: datetime | None = None,
    months: int = CHART_MONTHS,
    rollup: SalesRollup | None = None,
) -> list[dict]:
    """Customers whose first delivered order was placed in each month, zeros included: the
    rollup's days, then the customers counted live since."""
    window = MonthWindow.ending_at(now or timezone.now(), months)
    rollup = rollup or sales_rollup(start=window.months[0])
    rows = (
        customers.filter(
            first_order_at__gte=max(window.start, rollup.live_since()),
            first_order_at__lt=window.end,
        )
        .annotate(month=TruncMonth("first_order_at", output_field=DateField()))
        .values("month")
        .annotate(customers=Count("id"))
        .order_by("month")
    )
    counts = by_month([(day.day, day.new_customers) for day in _rollup_days(rollup, window)])
    for row in rows:
        counts[row["month"]] = counts.get(row["month"], 0) + row["customers"]
    return [{"month": month, "customers": counts.get(month, 0)} for month in window.months]


def top_customers(
    customers: QuerySet[Customer], *, limit: int = TOP_CUSTOMERS
) -> QuerySet[Customer]:
    """The customers who spent most, highest first; those who never bought are left out."""
    return (
        customers.filter(total_spent__gt=0)
        .only("first_name", "last_name", "email", "order_count", "total_spent", "last_order_at")
        .order_by("-total_spent", "-order_count", "id")[:limit]
    )


def _chart_months(series: list[dict]) -> dict[str, list[str]]:
    return {
        "months": [row["month"].strftime("%Y-%m") for row in series],
        "labels": [date_format(row["month"], "M Y") for row in series],
    }


def kpis_card(request: HttpRequest) -> dict:
    """The figures the last nightly run recorded, said to be as of then: counted live, they
    read every customer (a quarter of a second at a million). Live before the first run."""
    run = latest_run_for(request)
    if run is not None and run.customer_totals:
        return {"kpis": kpis_from_totals(run.customer_totals), "as_of": run.finished_at}
    return {"kpis": customer_kpis(customers_visible_to(request.user)), "as_of": None}


def follow_ups_card(request: HttpRequest) -> dict:
    return {"follow_ups": follow_up_counts(request.user)}


def addresses_card(request: HttpRequest) -> dict:
    return {"addresses": selectors.address_verification_counts(request.user)}


def _rollup_for(request: HttpRequest) -> SalesRollup:
    """The sales rollup of the chart window, read once per request for the two charts."""
    if not hasattr(request, "_crm_sales_rollup"):
        first = MonthWindow.ending_at(timezone.now(), CHART_MONTHS).months[0]
        request._crm_sales_rollup = sales_rollup(start=first)
    return request._crm_sales_rollup


def revenue_chart_card(request: HttpRequest) -> dict:
    rollup = _rollup_for(request)
    series = revenue_by_month(orders_visible_to(request.user), rollup=rollup)
    return {
        "series": series,
        "rollup": rollup,
        "chart": {
            **_chart_months(series),
            # Strings keep the exact amounts; the chart script turns them into numbers.
            "revenue": [str(row["revenue"]) for row in series],
            "orders": [row["orders"] for row in series],
            "currency": settings.CRM_CURRENCY,
        },
    }


def new_customers_chart_card(request: HttpRequest) -> dict:
    rollup = _rollup_for(request)
    series = new_customers_by_month(customers_visible_to(request.user), rollup=rollup)
    return {
        "series": series,
        "rollup": rollup,
        "chart": {**_chart_months(series), "customers": [row["customers"] for row in series]},
    }


def top_customers_card(request: HttpRequest) -> dict:
    return {"customers": list(top_customers(customers_visible_to(request.user)))}


registry.register_dashboard_card(
    key="customer-kpis",
    title="Customers",
    template="customers/cards/kpis.html",
    context=kpis_card,
    permission="customers.view_customer",
    order=10,
    width="col-12 col-xl-8",
)
registry.register_dashboard_card(
    key="follow-ups",
    title="Follow-ups due",
    template="customers/cards/follow_ups.html",
    context=follow_ups_card,
    permission="customers.view_note",
    order=20,
    width="col-12 col-sm-6 col-xl-2",
)
registry.register_dashboard_card(
    key="address-queue",
    title="Addresses to verify",
    template="customers/cards/addresses.html",
    context=addresses_card,
    permission="customers.view_address",
    order=21,
    width="col-12 col-sm-6 col-xl-2",
)
registry.register_dashboard_card(
    key="revenue-chart",
    title="Revenue and delivered orders, last 12 months",
    template="customers/cards/revenue_chart.html",
    context=revenue_chart_card,
    permission="customers.view_order",
    order=30,
    width="col-12 col-lg-7",
)
registry.register_dashboard_card(
    key="new-customers-chart",
    title="New customers, last 12 months",
    template="customers/cards/new_customers_chart.html",
    context=new_customers_chart_card,
    permission="customers.view_customer",
    order=31,
    width="col-12 col-lg-5",
)
registry.register_dashboard_card(
    key="top-customers",
    title="Top customers by total spent",
    template="customers/cards/top_customers.html",
    context=top_customers_card,
    permission="customers.view_customer",
    order=40,
    width="col-12",
)
