"""Support tickets: opening one, its messages (Communications with purpose support, so they are
in the customer's history), its one status transition function, and who handles it.

    open ⇄ pending → resolved → closed;  open, pending → closed;  resolved → open (reopened)

Closed is final: a customer who writes again gets a new ticket. A reply moves the ticket on: an
answer from staff leaves it pending (waiting for the customer), a message from the customer
brings a pending or resolved ticket back to open.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from communications.models import Channel, Communication, Direction, Purpose, Ticket
from communications.services import communication_log

Status = Ticket.Status

TRANSITIONS: dict[str, tuple[str, ...]] = {
    Status.OPEN: (Status.PENDING, Status.RESOLVED, Status.CLOSED),
    Status.PENDING: (Status.OPEN, Status.RESOLVED, Status.CLOSED),
    Status.RESOLVED: (Status.OPEN, Status.CLOSED),
    Status.CLOSED: (),
}
# Still waiting for someone: shown on the customer page and in "My tickets" first.
UNRESOLVED = (Status.OPEN, Status.PENDING)


def assignable_users() -> QuerySet:
    """The active users who may handle tickets (who hold change_ticket, themselves, through a
    group, or as superusers), by username."""
    may_change = Permission.objects.filter(
        content_type__app_label="communications", codename="change_ticket"
    )
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(user_permissions__in=may_change)
            | Q(groups__permissions__in=may_change)
        )
        .distinct()
        .order_by("username")
    )


def _check_assignee(assignee) -> None:
    if assignee is not None and not assignable_users().filter(pk=assignee.pk).exists():
        raise ValidationError({"assignee": f"{assignee} may not handle tickets."})


@transaction.atomic
def ticket_open(
    *,
    customer,
    subject: str,
    body: str = "",
    channel: str = Channel.EMAIL,
    priority: str = Ticket.Priority.NORMAL,
    assignee=None,
    opened_by=None,
    occurred_at: datetime | None = None,
) -> Ticket:
    """Open a ticket for ``customer``; ``body``, when given, is kept as its first message (what
    the customer asked, inbound on ``channel``). Refusals name the field."""
    subject = subject.strip()
    errors = {}
    if not subject:
        errors["subject"] = "Say what the ticket is about."
    if priority not in Ticket.Priority.values:
        errors["priority"] = "Choose a priority."
    if errors:
        raise ValidationError(errors)
    _check_assignee(assignee)
    ticket = Ticket(
        customer=customer,
        subject=subject,
        priority=priority,
        assignee=assignee,
        created_by=opened_by,
    )
    ticket.full_clean(exclude=["customer", "assignee", "created_by"])
    ticket.save()
    if body.strip():
        communication_log(
            customer=customer,
            channel=channel,
            direction=Direction.INBOUND,
            purpose=Purpose.SUPPORT,
            status=Communication.Status.DELIVERED,
            subject=subject,
            body=body,
            occurred_at=occurred_at,
            staff_user=opened_by,
            ticket=ticket,
        )
    return ticket


@transaction.atomic
def ticket_reply(
    *,
    ticket: Ticket,
    body: str,
    direction: str = Direction.OUTBOUND,
    channel: str = Channel.EMAIL,
    staff_user=None,
    occurred_at: datetime | None = None,
) -> Communication:
    """Add a message to the ticket (a Communication with purpose support, linked to it): an
    answer staff sent (outbound) or what the customer wrote (inbound). An answer leaves an open
    ticket pending; the customer's message reopens a pending or resolved one. A closed ticket
    takes no message."""
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if locked.status == Status.CLOSED:
        raise ValidationError({"body": "This ticket is closed; open a new ticket instead."})
    if not body.strip():
        raise ValidationError({"body": "Write the message."})
    message = communication_log(
        customer=locked.customer,
        channel=channel,
        direction=direction,
        purpose=Purpose.SUPPORT,
        # An answer sent by hand is sent; a message from the customer has arrived.
        status=Communication.Status.SENT
        if direction == Direction.OUTBOUND
        else Communication.Status.DELIVERED,
        subject=f"Re: {locked.subject}"[:200],
        body=body,
        occurred_at=occurred_at,
        staff_user=staff_user,
        ticket=locked,
    )
    if direction == Direction.OUTBOUND and locked.status == Status.OPEN:
        _ticket_move(locked, Status.PENDING)
    elif direction == Direction.INBOUND and locked.status in (Status.PENDING, Status.RESOLVED):
        _ticket_move(locked, Status.OPEN)
    else:
        locked.save(update_fields=["updated_at"])  # the list shows the latest activity first
    ticket.status, ticket.updated_at = locked.status, locked.updated_at
    return message


def _ticket_move(locked: Ticket, status: str) -> None:
    """Write a checked move on a locked ticket."""
    locked.status = status
    locked.closed_at = timezone.now() if status == Status.CLOSED else None
    locked.save(update_fields=["status", "closed_at", "updated_at"])


@transaction.atomic
def ticket_set_status(*, ticket: Ticket, status: str) -> bool:
    """Move the ticket to ``status`` if the move is allowed (TRANSITIONS), with its row locked,
    so two people changing it at once cannot both move it from the same state. Closing stamps
    ``closed_at``. Returns False when it already has that status; refuses a move that is not
    allowed, naming the field."""
    if status not in Status.values:
        raise ValidationError({"status": "Choose a status."})
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    if locked.status == status:
        return False
    if status not in TRANSITIONS[locked.status]:
        current = Status(locked.status).label.lower()
        raise ValidationError(
            {"status": f"A {current} ticket cannot become {Status(status).label.lower()}."}
        )
    _ticket_move(locked, status)
    ticket.status, ticket.closed_at, ticket.updated_at = (
        locked.status,
        locked.closed_at,
        locked.updated_at,
    )
    return True


@transaction.atomic
def ticket_assign(*, ticket: Ticket, assignee) -> bool:
    """Give the ticket to ``assignee`` (None: to nobody), who must be able to handle tickets.
    Returns False when it was theirs already."""
    _check_assignee(assignee)
    locked = Ticket.objects.select_for_update().get(pk=ticket.pk)
    assignee_id = assignee.pk if assignee is not None else None
    if locked.assignee_id == assignee_id:
        return False
    locked.assignee = assignee
    locked.save(update_fields=["assignee", "updated_at"])
    ticket.assignee, ticket.updated_at = assignee, locked.updated_at
    return True
