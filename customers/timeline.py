"""The customers app's own entries on a customer's timeline: orders, notes, tags, addresses.

Each source reads at most ``limit`` rows with one query, newest first, so the timeline costs the
same whatever the customer's history.
"""

from django.urls import reverse

from core import registry
from core.registry import TimelineEntry
from customers.models import Address, CustomerTag, Note, Order, OrderStatusChange, TagRemoval


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


def _by(user) -> str:
    return f" by {user.get_username()}" if user else ""


def tag_entries(customer, limit):
    """Tags the customer carries, and tags since removed: the removal and the addition it ended."""
    links = CustomerTag.objects.filter(customer=customer).select_related("tag", "added_by")
    for link in links.order_by("-added_at", "-id")[:limit]:
        yield TimelineEntry(
            at=link.added_at, kind="tag", title=f"Tagged {link.tag.name}{_by(link.added_by)}"
        )
    removals = TagRemoval.objects.filter(customer=customer).select_related(
        "tag", "added_by", "removed_by"
    )
    for removal in removals.order_by("-removed_at", "-id")[:limit]:
        name = removal.tag.name
        yield TimelineEntry(
            at=removal.removed_at, kind="tag", title=f"Tag {name} removed{_by(removal.removed_by)}"
        )
        yield TimelineEntry(
            at=removal.added_at, kind="tag", title=f"Tagged {name}{_by(removal.added_by)}"
        )


def address_entries(customer, limit):
    addresses = Address.objects.filter(customer=customer).order_by("-created_at", "-id")[:limit]
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
