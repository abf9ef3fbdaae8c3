"""What communications adds to the customer page: panels and timeline entries, registered with
core.registry when the app is ready.

The Communications panel and the timeline share one read: the customer's latest contacts and
unsubscribes, newest first, in one query (a UNION), kept on the customer object by the panel
(the page builds its panels before its timeline) and taken by the timeline source, which reads
them itself when the panel has not. The customer's unresolved tickets are one more query.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Case, CharField, F, IntegerField, Value, When
from django.db.models.functions import Left
from django.http import HttpRequest
from django.urls import reverse

from communications.forms import CommunicationLogForm
from communications.models import (
    Channel,
    Communication,
    Direction,
    Purpose,
    Ticket,
    TrackingEvent,
)
from communications.tickets import UNRESOLVED
from core.registry import TimelineEntry, register_panel, register_timeline_source
from core.visibility import rows_visible_to

# The page's timeline shows 30 events (core.registry.timeline_for): the panel reads as many, so
# the timeline needs no read of its own.
SHARED_READ = 30
PANEL_CONTACTS = 5
PANEL_TICKETS = 5
BODY_PREVIEW = 200
CACHE_ATTRIBUTE = "_communications_recent"

# Most urgent first.
PRIORITIES = (
    Ticket.Priority.URGENT,
    Ticket.Priority.HIGH,
    Ticket.Priority.NORMAL,
    Ticket.Priority.LOW,
)

CONTACT = "contact"
UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True)
class RecentEvent:
    """A contact, or an unsubscribe (from the message it came through), as the panel and the
    timeline show it."""

    event: str
    at: datetime
    communication_id: int
    channel: str
    direction: str
    purpose: str
    status: str
    subject: str
    body: str
    staff_username: str | None
    campaign_name: str | None
    ticket_id: int | None

    @property
    def is_unsubscribe(self) -> bool:
        return self.event == UNSUBSCRIBE

    def get_channel_display(self) -> str:
        return Channel(self.channel).label if self.channel in Channel.values else self.channel

    def get_direction_display(self) -> str:
        return Direction(self.direction).label

    def get_purpose_display(self) -> str:
        return Purpose(self.purpose).label

    def get_status_display(self) -> str:
        return Communication.Status(self.status).label


COLUMNS = (
    "r_event",
    "r_at",
    "r_id",
    "r_channel",
    "r_direction",
    "r_purpose",
    "r_status",
    "r_subject",
    "r_body",
    "r_staff",
    "r_campaign",
    "r_ticket",
)


def _columns(prefix: str, event: str, at: str) -> dict[str, Any]:
    """The UNION's columns, every one an annotation so both halves list them in one order."""
    return {
        "r_event": Value(event, output_field=CharField()),
        "r_at": F(at),
        "r_id": F(f"{prefix}id"),
        "r_channel": F(f"{prefix}channel"),
        "r_direction": F(f"{prefix}direction"),
        "r_purpose": F(f"{prefix}purpose"),
        "r_status": F(f"{prefix}status"),
        "r_subject": F(f"{prefix}subject"),
        "r_body": Left(f"{prefix}body", BODY_PREVIEW),
        "r_staff": F(f"{prefix}staff_user__username"),
        "r_campaign": F(f"{prefix}campaign__name"),
        "r_ticket": F(f"{prefix}ticket_id"),
    }


def recent_events(communications, unsubscribes, limit: int) -> list[RecentEvent]:
    """The newest ``limit`` of the contacts ``communications`` and the unsubscribe events
    ``unsubscribes``, newest first, in one query."""
    contacts = (
        communications.order_by()
        .annotate(**_columns("", CONTACT, "occurred_at"))
        .values_list(*COLUMNS)
    )
    events = (
        unsubscribes.order_by()
        .annotate(**_columns("communication__", UNSUBSCRIBE, "created_at"))
        .values_list(*COLUMNS)
    )
    rows = contacts.union(events, all=True).order_by("-r_at", "-r_id")[:limit]
    return [RecentEvent(*row) for row in rows]


def customer_recent_events(customer, limit: int, user=None) -> list[RecentEvent]:
    """``customer``'s newest contacts and unsubscribes; as ``user`` may see them, when given."""
    communications = Communication.objects.filter(customer=customer)
    unsubscribes = TrackingEvent.objects.filter(
        communication__customer=customer, kind=TrackingEvent.Kind.UNSUBSCRIBE
    )
    if user is not None:
        communications = rows_visible_to(user, communications)
        unsubscribes = rows_visible_to(user, unsubscribes, via="communication__customer")
    return recent_events(communications, unsubscribes, limit)


def customer_open_tickets(user, customer) -> list[Ticket]:
    """Up to PANEL_TICKETS + 1 of the customer's unresolved tickets (one more than shown, to
    tell whether there are more), urgent ones first, then the latest."""
    tickets = rows_visible_to(user, Ticket.objects.filter(customer=customer, status__in=UNRESOLVED))
    urgency = Case(
        *(When(priority=priority, then=Value(rank)) for rank, priority in enumerate(PRIORITIES)),
        default=Value(len(PRIORITIES)),
        output_field=IntegerField(),
    )
    return list(
        tickets.select_related("assignee").order_by(urgency, "-updated_at", "-id")[
            : PANEL_TICKETS + 1
        ]
    )


def communications_panel_context(request: HttpRequest, customer: Any, form=None) -> dict:
    """The customer's latest contacts, their unresolved tickets (for those who may view
    tickets) and the "Log a contact" form (for those who may log one): two queries."""
    user = request.user
    events = customer_recent_events(customer, SHARED_READ, user)
    setattr(customer, CACHE_ATTRIBUTE, (SHARED_READ, events))
    context = {
        "recent": events[:PANEL_CONTACTS],
        "more_contacts": len(events) > PANEL_CONTACTS,
        "log_url": f"{reverse('communications:log')}?customer={customer.pk}",
        "can_log": user.has_perm("communications.add_communication"),
        "show_tickets": user.has_perm("communications.view_ticket"),
        "can_open_ticket": user.has_perm("communications.add_ticket"),
    }
    if context["can_log"]:
        context["log_form"] = form or CommunicationLogForm()
    if context["show_tickets"]:
        tickets = customer_open_tickets(user, customer)
        context.update(
            open_tickets=tickets[:PANEL_TICKETS], more_tickets=len(tickets) > PANEL_TICKETS
        )
    return context


def event_title(event: RecentEvent) -> str:
    """One line for the timeline, in the words staff use."""
    if event.is_unsubscribe:
        return f"Unsubscribed from {event.get_channel_display().lower()}"
    channel = event.get_channel_display()
    if event.campaign_name:
        return (
            f"{channel} from campaign {event.campaign_name}: {event.get_status_display().lower()}"
        )
    direction = "from" if event.direction == Direction.INBOUND else "to"
    who = f" by {event.staff_username}" if event.staff_username else ""
    what = f": {event.subject}" if event.subject else ""
    return (
        f"{channel} {direction} the customer ({event.get_purpose_display().lower()}, "
        f"{event.get_status_display().lower()}){who}{what}"
    )


def communication_entries(customer, limit: int):
    cached = getattr(customer, CACHE_ATTRIBUTE, None)
    if cached is not None and cached[0] >= limit:
        events = cached[1][:limit]
    else:
        events = customer_recent_events(customer, limit)
    for event in events:
        url = ""
        if event.ticket_id and not event.is_unsubscribe:
            url = reverse("communications:ticket", args=[event.ticket_id])
        yield TimelineEntry(
            at=event.at,
            kind="unsubscribe" if event.is_unsubscribe else "contact",
            title=event_title(event),
            body="" if event.is_unsubscribe else event.body,
            url=url,
        )


register_panel(
    key="communications",
    title="Communications",
    template="communications/panel.html",
    context=communications_panel_context,
    permission="communications.view_communication",
    order=30,
)
register_timeline_source(
    key="communications",
    entries=communication_entries,
    permission="communications.view_communication",
)
