"""Bulk actions on a segment's members: add a tag, remove a tag, add to another segment.

``bulk_action_start`` records the action and runs it at once when it touches at most
``CRM_SEGMENT_BULK_INLINE_LIMIT`` customers; above that it sends it to a Celery task, and the
segment's page shows its progress. ``bulk_action_run`` does the work in batches of customer ids,
one transaction per batch: each batch is one set-based statement (INSERT … SELECT or DELETE)
that changes nothing when run twice, and records how far the action got in the same transaction.
So an action stopped anywhere (a worker killed, a deploy, an error) leaves whole batches behind,
and running it again finishes it.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from core import sql
from customers.models import Customer, Tag
from customers.services import customers_tag_add, customers_tag_remove
from segments.models import BulkAction, Segment, SegmentMembership

logger = logging.getLogger(__name__)

Kind = BulkAction.Kind
Status = BulkAction.Status

# Who may start which bulk action: the permission of the rows it writes.
BULK_PERMISSIONS = {
    Kind.ADD_TAG: "customers.add_customertag",
    Kind.REMOVE_TAG: "customers.delete_customertag",
    Kind.ADD_TO_SEGMENT: "segments.add_segmentmembership",
}


def bulk_kinds_for(user) -> list[str]:
    """The bulk actions ``user`` may start."""
    return [kind for kind, permission in BULK_PERMISSIONS.items() if user.has_perm(permission)]


def bulk_action_members(action: BulkAction) -> QuerySet[Customer]:
    """The customers the action applies to: the segment's members as its author may see them,
    cut to the chosen ones when the action has a selection."""
    members = action.segment.customers(action.created_by)
    if action.customer_ids is not None:
        members = members.filter(pk__in=action.customer_ids)
    return members


def bulk_action_start(
    *,
    segment: Segment,
    kind: str,
    user,
    tag: Tag | None = None,
    target_segment: Segment | None = None,
    customer_ids: Iterable[int] | None = None,
) -> BulkAction:
    """Record a bulk action and run it: at once when it touches few customers, else after
    commit in a Celery task. Refusals (no tag, the same segment, an empty selection) are
    ValidationErrors naming the field."""
    if kind not in Kind.values:
        raise ValidationError({"kind": f"Choose an action: {', '.join(Kind.labels)}."})
    if kind in (Kind.ADD_TAG, Kind.REMOVE_TAG) and tag is None:
        raise ValidationError({"tag": "Choose the tag."})
    if kind == Kind.ADD_TO_SEGMENT:
        if target_segment is None:
            raise ValidationError({"target_segment": "Choose the segment to add them to."})
        if target_segment.pk == segment.pk:
            raise ValidationError(
                {"target_segment": "Choose another segment: they are members of this one."}
            )
    ids = None if customer_ids is None else sorted(set(customer_ids))
    if ids is not None and not ids:
        raise ValidationError({"customer_ids": "Select at least one customer."})

    action = BulkAction(
        segment=segment,
        kind=kind,
        tag=tag if kind != Kind.ADD_TO_SEGMENT else None,
        target_segment=target_segment if kind == Kind.ADD_TO_SEGMENT else None,
        customer_ids=ids,
        created_by=user,
    )
    members = bulk_action_members(action)
    limit = settings.CRM_SEGMENT_BULK_INLINE_LIMIT
    # Counted up to one past the limit: the exact number of a large segment is not needed here.
    action.member_count = members[: limit + 1].count()
    action.last_customer_id = (
        max(ids) if ids is not None else Customer.objects.aggregate(last=Max("pk"))["last"] or 0
    )
    action.save()
    if action.member_count <= limit:
        return bulk_action_run(action_id=action.pk)

    from segments.tasks import bulk_action_run as bulk_action_task

    transaction.on_commit(lambda: bulk_action_task.delay(action.pk))
    return action


def _apply(action: BulkAction, customers: QuerySet[Customer]) -> int:
    if action.kind == Kind.ADD_TAG:
        return customers_tag_add(customers=customers, tag=action.tag, added_by=action.created_by)
    if action.kind == Kind.REMOVE_TAG:
        return customers_tag_remove(
            customers=customers, tag=action.tag, removed_by=action.created_by
        )
    return segment_members_add_all(
        segment=action.target_segment, customers=customers, user=action.created_by
    )


def segment_members_add_all(*, segment: Segment, customers: QuerySet[Customer], user=None) -> int:
    """Add every customer of ``customers`` to the segment by hand, with one INSERT … SELECT;
    those already added stay as they were. Returns how many were added now."""
    return sql.insert_for_each(
        model=SegmentMembership,
        field="customer",
        queryset=customers,
        values={"segment": segment, "added_at": timezone.now(), "added_by": user},
        unique=("segment", "customer"),
    )


def bulk_action_run(*, action_id: int, batches: int | None = None) -> BulkAction:
    """Do the action's remaining batches (all, or at most ``batches``) and return it. Safe to
    call twice, and from two workers at once: each batch locks the action's row and starts
    where the last one committed; the last batch marks it done in its own transaction. A
    finished action is returned as it is."""
    done = 0
    action = None
    while batches is None or done < batches:
        try:
            with transaction.atomic():
                action = (
                    BulkAction.objects.select_for_update(of=("self",))
                    .select_related("segment", "tag", "target_segment", "created_by")
                    .get(pk=action_id)
                )
                if action.status == Status.SUCCEEDED:
                    return action
                if action.done_up_to < action.last_customer_id:
                    low = action.done_up_to
                    high = min(low + settings.CRM_SEGMENT_BULK_BATCH, action.last_customer_id)
                    members = bulk_action_members(action).filter(pk__gt=low, pk__lte=high)
                    action.changed_count += _apply(action, members)
                    action.done_up_to = high
                    done += 1
                action.error = ""
                if action.done_up_to >= action.last_customer_id:
                    action.status, action.finished_at = Status.SUCCEEDED, timezone.now()
                else:
                    action.status = Status.RUNNING
                action.save(
                    update_fields=["done_up_to", "changed_count", "status", "error", "finished_at"]
                )
        except Exception as error:
            logger.exception("Bulk action %s stopped", action_id)
            BulkAction.objects.filter(pk=action_id).update(
                status=Status.FAILED, error=str(error)[:500], finished_at=timezone.now()
            )
            raise
        if action.status == Status.SUCCEEDED:
            _after(action)
            return action
    return action


def _after(action: BulkAction) -> None:
    """The target segment counted again, so its page shows the members just added."""
    if action.kind == Kind.ADD_TO_SEGMENT:
        from segments.services import segment_refresh

        segment_refresh(action.target_segment, has_members=True)
