"""The "Segments" panel on the customer page: every segment the customer belongs to, by its
rules or added by hand.

Two queries whatever the number of segments: the segments, each with whether this customer was
added to it by hand, then one row of this customer with one boolean per segment the rules
decide. The page has already found the customer through the visibility selector, so the second
query starts from that customer alone.
"""

import logging
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef
from django.http import HttpRequest
from django.utils import timezone

from core.registry import register_panel
from core.visibility import NOTHING
from customers.models import Customer
from segments.models import Segment, SegmentMembership

logger = logging.getLogger(__name__)


def customer_segments(customer: Any) -> list[Segment]:
    """The segments ``customer`` belongs to, in name order, each with ``added_by_hand``; two
    queries. A segment whose rules no longer compile (a field whose app was removed) is left
    out, as segments_refresh_all leaves it."""
    added = SegmentMembership.objects.filter(segment=OuterRef("pk"), customer_id=customer.pk)
    segments = list(
        Segment.objects.only("name", "slug", "rules", "is_system").annotate(
            added_by_hand=Exists(added)
        )
    )
    today = timezone.localdate()
    compiled: list[Segment] = []
    by_rules: dict[str, Exists] = {}
    for segment in segments:
        try:
            rules = segment.rules_filter(today)
        except ValidationError:
            logger.warning("Segment %s: its rules no longer compile; not shown.", segment.slug)
            continue
        compiled.append(segment)
        if not segment.added_by_hand and rules is not NOTHING:
            by_rules[rules_key(segment)] = Exists(Customer.objects.filter(rules, pk=OuterRef("pk")))
    matched = {}
    if by_rules:
        matched = Customer.objects.filter(pk=customer.pk).values(**by_rules).first() or {}
    return [
        segment for segment in compiled if segment.added_by_hand or matched.get(rules_key(segment))
    ]


def rules_key(segment: Segment) -> str:
    return f"segment_{segment.pk}"


def segments_panel_context(request: HttpRequest, customer: Any) -> dict:
    return {"segments": customer_segments(customer)}


def register_segments_panel() -> None:
    """Called once from SegmentsConfig.ready."""
    register_panel(
        key="segments",
        title="Segments",
        template="segments/panel.html",
        context=segments_panel_context,
        permission="segments.view_segment",
        order=30,
    )
