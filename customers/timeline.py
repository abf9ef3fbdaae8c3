"""The customers app's own entries on a customer's timeline: orders, notes, tags, addresses.

Each source reads at most ``limit`` rows with one query, newest first, so the timeline costs the
same whatever the customer's history. Addresses are the exception: a customer has a handful, and
the source reads those the customer page has already prefetched for its Addresses card.
"""

from django.db.models import CharField, DateTimeField, F, Value
from django.urls import reverse

from core import registry
from core.registry import TimelineEntry
from customers.models import CustomerTag, Note, Order, OrderStatusChange, TagRemoval


def order_entries(customer, limit):
    for order in Order.objects.filter(customer=customer).order_by("-placed_at", "-id")[:limit]:
        yield TimelineEntry(
            at=order.placed_at,
            kind="order",
            title=f"Order {order.number} placed: {order.total} {order.currency}",
            body=f"{order.item_count} item(s), now {order.get_status_display().lower()}",
        )


def order_status_entries(customer, limit):
    changes = (
        OrderStatusChange.objects.filter(order__customer=customer)
        .select_related("order", "changed_by")
        .order_by("-changed_at", "-id")[:limit]
    )
    for change in changes:
        who = f" by {change.changed_by.get_username()}" if change.changed_by else ""
        yield TimelineEntry(
            at=change.changed_at,
            kind="order",
            title=f"Order {change.order.number} {change.get_to_status_display().lower()}",
            body=f"From {change.get_from_status_display().lower()}{who}",
        )


def note_entries(customer, limit):
    notes = Note.objects.filter(customer=customer).select_related("author")
    for note in notes.order_by("-created_at", "-id")[:limit]:
        who = f" by {note.author.get_username()}" if note.author else ""
        yield TimelineEntry(
            at=note.created_at,
            kind="note",
            title=f"{note.get_kind_display()} note{who}",
            body=note.body,
        )


def _by_name(username: str | None) -> str:
    return f" by {username}" if username else ""


def tag_entries(customer, limit):
    """Tags the customer carries, and tags since removed: the removal and the addition it ended.
    One query: the carried and the removed tags together, latest event first."""
    columns = ("event_at", "added_at", "tag__name", "added_by__username", "removed_at", "remover")
    carried = (
        CustomerTag.objects.filter(customer=customer)
        .annotate(
            event_at=F("added_at"),
            removed_at=Value(None, output_field=DateTimeField()),
            remover=Value(None, output_field=CharField()),
        )
        .values_list(*columns)
    )
    removed = (
        TagRemoval.objects.filter(customer=customer)
        .annotate(event_at=F("removed_at"), remover=F("removed_by__username"))
        .values_list(*columns)
    )
    rows = carried.union(removed, all=True).order_by("-event_at")[:limit]
    for _, added_at, name, adder, removed_at, remover in rows:
        if removed_at is not None:
            yield TimelineEntry(
                at=removed_at, kind="tag", title=f"Tag {name} removed{_by_name(remover)}"
            )
        yield TimelineEntry(at=added_at, kind="tag", title=f"Tagged {name}{_by_name(adder)}")


def address_entries(customer, limit):
    # Through the relation, so the customer page's prefetch (its Addresses card) serves both.
    addresses = sorted(
        customer.addresses.all(), key=lambda address: (address.created_at, address.pk), reverse=True
    )[:limit]
    for address in addresses:
        yield TimelineEntry(
            at=address.created_at,
            kind="address",
            title=f"{address.get_kind_display()} address added",
            body=str(address),
        )
        if address.verified_at:
            yield TimelineEntry(
                at=address.verified_at,
                kind="address",
                title=f"Address {address.get_verification_status_display().lower()}",
                body=address.verification_notes,
            )


def customer_entries(customer, limit):
    yield TimelineEntry(
        at=customer.created_at,
        kind="customer",
        title="Became a customer",
        body=f"Source: {customer.get_source_display()}",
        url=reverse("customers:detail", args=[customer.pk]),
    )


registry.register_timeline_source(
    key="orders", entries=order_entries, permission="customers.view_order"
)
registry.register_timeline_source(
    key="order-status", entries=order_status_entries, permission="customers.view_order"
)
registry.register_timeline_source(
    key="notes", entries=note_entries, permission="customers.view_note"
)
registry.register_timeline_source(key="tags", entries=tag_entries, permission="customers.view_tag")
registry.register_timeline_source(
    key="addresses", entries=address_entries, permission="customers.view_address"
)
registry.register_timeline_source(key="customer", entries=customer_entries)
