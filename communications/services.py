"""Writes on the log: logging a contact, and the one transition function of a Communication's
status.

Campaign sending, tracking, tickets and the SMS webhook all move a Communication through
``communication_advance``; none writes ``status`` or a step's time itself.
"""

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from communications.models import Campaign, Channel, Communication, Direction, Purpose

Status = Communication.Status

# The forward steps, in order. A move to a later step counts (on a campaign) every step it
# passes: an email opened is a delivered email too, even when no delivery report came.
PROGRESS = (Status.QUEUED, Status.SENT, Status.DELIVERED, Status.OPENED, Status.CLICKED)
RANK = {status: rank for rank, status in enumerate(PROGRESS)}
RANK[Status.REPLIED] = RANK[Status.CLICKED]  # a reply is the end of the road, as a click
# The ends that are not progress, and the steps they can come from.
FAILURES = {
    Status.BOUNCED: (Status.QUEUED, Status.SENT, Status.DELIVERED),
    Status.FAILED: (Status.QUEUED, Status.SENT),
    Status.SKIPPED: (Status.QUEUED,),
}
# The campaign counter each step adds to.
COUNTERS = {
    Status.SENT: "sent_count",
    Status.DELIVERED: "delivered_count",
    Status.OPENED: "opened_count",
    Status.CLICKED: "clicked_count",
    Status.BOUNCED: "failed_count",
    Status.FAILED: "failed_count",
    Status.SKIPPED: "skipped_count",
}
STAMPS = {status: f"{status}_at" for status in Status.values if status != Status.HELD_OUT}


def allowed_sources(status: str) -> tuple[str, ...]:
    """The statuses a communication may be in to move to ``status``."""
    if status in FAILURES:
        return FAILURES[status]
    if status in RANK:
        return tuple(
            s for s in (*PROGRESS, Status.REPLIED) if RANK[s] < RANK[status] and s != status
        )
    return ()


def communication_advance(
    *, communication: Communication, status: str, at: datetime | None = None, error: str = ""
) -> bool:
    """Move the communication forward to ``status`` and stamp the step's time (once), in one
    conditional UPDATE: a move backwards or sideways (an open after a click, a second delivery
    report) changes nothing and returns False. On a campaign's message, the campaign's counters
    of every step passed grow by one in the same transaction. Safe under concurrency: two
    reports of the same step count once."""
    if status not in STAMPS or status == Status.QUEUED:
        raise ValidationError({"status": f"“{status}” is not a step a message moves to."})
    at = at or timezone.now()
    sources = allowed_sources(status)
    changes = {"status": status, STAMPS[status]: at}
    if error:
        changes["error"] = error[:2000]
    with transaction.atomic():
        # The row as it is now, locked, so the steps passed are counted from its real status.
        current = (
            Communication.objects.select_for_update()
            .filter(pk=communication.pk, status__in=sources)
            .values("status", "campaign_id")
            .first()
        )
        if current is None:
            return False
        # A click is an open too, and an open a delivery: counted, but their times stay unknown.
        passed = _steps_passed(current["status"], status)
        Communication.objects.filter(pk=communication.pk).update(**changes)
        if current["campaign_id"] and passed:
            Campaign.objects.filter(pk=current["campaign_id"]).update(
                **{COUNTERS[step]: F(COUNTERS[step]) + 1 for step in passed}
            )
    communication.status = status
    setattr(communication, STAMPS[status], at)
    if error:
        communication.error = changes["error"]
    return True


def communications_advance_many(
    *, communication_ids: list[int], status: str, at: datetime | None = None
) -> int:
    """``communication_advance`` for many messages at once (a campaign's batch just sent), in
    three statements whatever their number: the rows locked, moved, and each campaign's
    counters grown by the steps its messages passed. The same rules: a message that may not
    move to ``status`` is left as it is. Returns how many moved."""
    if status not in STAMPS or status == Status.QUEUED:
        raise ValidationError({"status": f"“{status}” is not a step a message moves to."})
    if not communication_ids:
        return 0
    at = at or timezone.now()
    with transaction.atomic():
        current = list(
            Communication.objects.select_for_update()
            .filter(pk__in=communication_ids, status__in=allowed_sources(status))
            .order_by("pk")
            .values_list("pk", "status", "campaign_id")
        )
        if not current:
            return 0
        Communication.objects.filter(pk__in=[pk for pk, _, _ in current]).update(
            status=status, **{STAMPS[status]: at}
        )
        grown: dict[int, dict[str, int]] = {}
        for _, previous, campaign_id in current:
            if campaign_id:
                counters = grown.setdefault(campaign_id, {})
                for step in _steps_passed(previous, status):
                    counters[COUNTERS[step]] = counters.get(COUNTERS[step], 0) + 1
        for campaign_id, counters in grown.items():
            if counters:
                Campaign.objects.filter(pk=campaign_id).update(
                    **{name: F(name) + count for name, count in counters.items()}
                )
    return len(current)


def _steps_passed(previous: str, status: str) -> list[str]:
    """The counted steps a move from ``previous`` to ``status`` passes, ``status`` included."""
    if status in FAILURES:
        return [status]
    target = Status.CLICKED if status == Status.REPLIED else status
    steps = [s for s in PROGRESS[1:] if RANK[previous] < RANK[s] <= RANK[target]]
    if status == Status.REPLIED:
        steps = [s for s in steps if s != Status.CLICKED]
    return [s for s in steps if s in COUNTERS]


# Statuses staff may give a contact they log, by direction.
LOGGED_STATUSES = {
    Direction.OUTBOUND: (Status.SENT, Status.DELIVERED, Status.REPLIED, Status.FAILED),
    Direction.INBOUND: (Status.DELIVERED, Status.REPLIED),
}


def communication_log(
    *,
    customer,
    channel: str,
    direction: str,
    purpose: str,
    status: str,
    subject: str = "",
    body: str = "",
    occurred_at: datetime | None = None,
    staff_user=None,
    ticket=None,
) -> Communication:
    """Record a contact that happened (a call, a visit, a chat, a message sent by hand), with
    the status it reached; its steps' times are the time it happened. Refusals name the field."""
    errors = {}
    if channel not in Channel.values:
        errors["channel"] = "Choose a channel."
    if direction not in Direction.values:
        errors["direction"] = "Choose inbound or outbound."
    if purpose not in Purpose.values:
        errors["purpose"] = "Choose a purpose."
    allowed = LOGGED_STATUSES.get(direction, ())
    if direction in Direction.values and status not in allowed:
        labels = ", ".join(str(Status(s).label).lower() for s in allowed)
        errors["status"] = f"A logged {direction} contact is {labels}."
    now = timezone.now()
    occurred_at = occurred_at or now
    if occurred_at > now + timedelta(minutes=5):
        errors["occurred_at"] = "A contact that is logged has happened: the time is in the future."
    if errors:
        raise ValidationError(errors)
    communication = Communication(
        customer=customer,
        channel=channel,
        direction=direction,
        purpose=purpose,
        status=status,
        subject=subject.strip(),
        body=body.strip(),
        occurred_at=occurred_at,
        staff_user=staff_user,
        ticket=ticket,
    )
    if status in FAILURES:
        setattr(communication, STAMPS[status], occurred_at)
    else:
        for step in (*PROGRESS[1:], Status.REPLIED):
            if RANK[step] <= RANK[status] and step != Status.CLICKED and step != Status.OPENED:
                setattr(communication, STAMPS[step], occurred_at)
    communication.full_clean(exclude=["customer", "staff_user", "ticket", "campaign", "template"])
    communication.save()
    return communication
