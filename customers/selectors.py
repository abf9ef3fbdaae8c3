"""Reads that more than one page needs, with their joins and prefetches already in place.

Each starts from what the user may see (core.visibility), so no page builds its own base query.
"""

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Avg, Count, Prefetch, Q, QuerySet, Sum
from django.utils import timezone

from core.visibility import (
    addresses_visible_to,
    customers_visible_to,
    notes_visible_to,
    orders_visible_to,
)
from customers.models import Address, Customer, Note, Order, Tag


def customer_list(user) -> QuerySet[Customer]:
    """Customers for a list: tags prefetched in one query, nothing else joined."""
    return customers_visible_to(user).prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name"))
    )


def customer_detail(user) -> QuerySet[Customer]:
    return customers_visible_to(user).prefetch_related(
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
        Prefetch("addresses", queryset=Address.objects.select_related("verified_by")),
    )


def rfm_segment_tally() -> dict[str, int]:
    """Customers per stored RFM segment, Prospect included and customers not scored yet left
    out, from one GROUP BY over the customer table."""
    rows = (
        Customer.objects.exclude(rfm_segment="")
        .order_by()
        .values_list("rfm_segment")
        .annotate(customers=Count("id"))
    )
    return dict(rows)


# The dashboard's customer figures: ordered in the last ACTIVE_DAYS, first ordered in the last
# NEW_DAYS, no order in CHURNED_DAYS.
ACTIVE_DAYS = 30
NEW_DAYS = 30
CHURNED_DAYS = 90


def customer_totals(
    customers: QuerySet[Customer], *, now: datetime | None = None
) -> dict[str, Any]:
    """Counts and sums over ``customers`` in one query (one read of every row): how many, active,
    new, churned, scored, who bought and who bought again, delivered orders, revenue and average
    predicted value. JSON-ready, amounts as strings, so a run can record them."""
    now = now or timezone.now()
    totals = customers.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(last_order_at__gte=now - timedelta(days=ACTIVE_DAYS))),
        new=Count("id", filter=Q(first_order_at__gte=now - timedelta(days=NEW_DAYS))),
        churned=Count("id", filter=Q(last_order_at__lt=now - timedelta(days=CHURNED_DAYS))),
        scored=Count("id", filter=Q(predicted_clv__isnull=False)),
        average_clv=Avg("predicted_clv"),
        revenue=Sum("total_spent"),
        delivered_orders=Sum("order_count"),
        buyers=Count("id", filter=Q(order_count__gte=1)),
        repeat_buyers=Count("id", filter=Q(order_count__gte=2)),
    )
    cent = Decimal("0.01")
    average_clv = totals["average_clv"]
    return {
        **totals,
        "revenue": str(Decimal(totals["revenue"] or 0).quantize(cent, rounding=ROUND_HALF_UP)),
        "delivered_orders": totals["delivered_orders"] or 0,
        "average_clv": None
        if average_clv is None
        else str(Decimal(average_clv).quantize(cent, rounding=ROUND_HALF_UP)),
    }


def customer_orders(user, customer: Customer) -> QuerySet[Order]:
    return orders_visible_to(user).filter(customer=customer).order_by("-placed_at", "-id")


def customer_notes(user, customer: Customer) -> QuerySet[Note]:
    """Pinned first, then newest."""
    return (
        notes_visible_to(user)
        .filter(customer=customer)
        .select_related("author")
        .order_by("-pinned", "-created_at", "-id")
    )


def follow_ups_due(user, *, today=None) -> QuerySet[Note]:
    """Open follow-ups dated today or earlier, oldest first, with their customer."""
    today = today or timezone.localdate()
    return (
        notes_visible_to(user)
        .filter(done=False, follow_up_on__lte=today)
        .select_related("customer", "author")
        .order_by("follow_up_on", "id")
    )


def addresses_pending(user) -> QuerySet[Address]:
    """The verification queue: pending addresses, oldest first."""
    return (
        addresses_visible_to(user)
        .filter(verification_status=Address.VerificationStatus.PENDING)
        .select_related("customer")
        .order_by("created_at", "id")
    )


def address_verification_counts(user, *, week_start=None) -> dict[str, int]:
    """Pending, verified and rejected counts, and how many were verified since week_start
    (default: seven days ago), in one query."""
    week_start = week_start or timezone.now() - timezone.timedelta(days=7)
    status = Address.VerificationStatus
    return addresses_visible_to(user).aggregate(
        pending=Count("id", filter=Q(verification_status=status.PENDING)),
        verified=Count("id", filter=Q(verification_status=status.VERIFIED)),
        rejected=Count("id", filter=Q(verification_status=status.REJECTED)),
        verified_this_week=Count(
            "id", filter=Q(verification_status=status.VERIFIED, verified_at__gte=week_start)
        ),
    )
