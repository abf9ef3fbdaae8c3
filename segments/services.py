"""Every write on segments: creation, counts, deletion, manual members."""

import logging
from collections.abc import Iterable
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Customer
from segments.models import Segment, SegmentMembership, system_segment_message

logger = logging.getLogger(__name__)


NAME_TAKEN = (
    "A segment with this name, or one whose address would be the same, has just been saved. "
    "Choose another name."
)


def _save_named(segment: Segment, **save_kwargs) -> None:
    """Save, turning a name or address taken meanwhile (two people saving the same name at
    once: the check passed for both) into a refusal on the name instead of an error."""
    try:
        with transaction.atomic():
            segment.save(**save_kwargs)
    except IntegrityError as error:
        raise ValidationError({"name": NAME_TAKEN}, code="unique") from error


@transaction.atomic
def segment_create(*, name: str, description: str = "", rules: dict) -> Segment:
    """A new segment; its rules are checked as on every save (a refusal names the condition)."""
    segment = Segment(name=name, description=description, rules=rules)
    segment.full_clean()
    _save_named(segment)
    return segment


@transaction.atomic
def segment_update(*, segment: Segment, name: str, description: str, rules: dict) -> Segment:
    """Change a segment's name, description and rules, checked as on every save (a refusal
    names the condition, and nothing is written). The address (slug) stays as it was, so
    links to the segment keep working after a rename. The count is not refreshed here:
    ``segment_refresh`` does that."""
    segment.name, segment.description, segment.rules = name, description, rules
    segment.full_clean()
    _save_named(segment, update_fields=["name", "description", "rules", "updated_at"])
    return segment


def segment_refresh(
    segment: Segment, *, today: date | None = None, has_members: bool | None = None
) -> int:
    """Count the segment's customers (rules or manual members, one COUNT) and store the count
    and the time on it (one UPDATE). Returns the count. A segment without manual members is
    counted by its rules alone: joined to the members by OR, a rule cannot use its own index and
    the count reads every customer. ``has_members`` saves asking when the caller knows."""
    if has_members is None:
        has_members = SegmentMembership.objects.filter(segment_id=segment.pk).exists()
    if has_members:
        member_count = segment.customers(today=today).count()
    else:
        member_count = Customer.objects.filter(segment.rules_filter(today)).count()
    segment.member_count, segment.evaluated_at = member_count, timezone.now()
    Segment.objects.filter(pk=segment.pk).update(
        member_count=segment.member_count, evaluated_at=segment.evaluated_at
    )
    return member_count


def segments_refresh_all(*, today: date | None = None) -> dict[str, int]:
    """Refresh every segment's count; returns {slug: count}. A segment whose rules no longer
    compile (a field whose app was removed) is logged and skipped, not the whole refresh."""
    today = today or timezone.localdate()
    counts = {}
    with_members = set(SegmentMembership.objects.values_list("segment_id", flat=True).distinct())
    for segment in Segment.objects.order_by("pk"):
        try:
            counts[segment.slug] = segment_refresh(
                segment, today=today, has_members=segment.pk in with_members
            )
        except ValidationError as error:
            logger.error("Segment %s not counted: %s", segment.slug, "; ".join(error.messages))
    return counts


def segment_delete(*, segment: Segment) -> None:
    """Delete a segment the shop made; a pre-built one is refused with a ValidationError."""
    if segment.is_system:
        raise ValidationError(system_segment_message(segment.name), code="system_segment")
    segment.delete()


@transaction.atomic
def segment_members_add(*, segment: Segment, customers: Iterable[Customer], user=None) -> int:
    """Add customers to the segment by hand (those already members are left as they are).
    Returns how many were added."""
    wanted = {customer.pk for customer in customers}
    present = set(
        SegmentMembership.objects.filter(segment=segment, customer_id__in=wanted).values_list(
            "customer_id", flat=True
        )
    )
    rows = [
        SegmentMembership(segment=segment, customer_id=pk, added_by=user)
        for pk in sorted(wanted - present)
    ]
    SegmentMembership.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def segment_members_remove(*, segment: Segment, customers: Iterable[Customer]) -> int:
    """Take customers added by hand out of the segment (its rules may still match them).
    Returns how many memberships were removed."""
    pks = [customer.pk for customer in customers]
    deleted, _ = SegmentMembership.objects.filter(segment=segment, customer_id__in=pks).delete()
    return deleted
