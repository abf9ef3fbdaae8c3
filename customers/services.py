"""Every write to customers and orders that a user or a job can trigger.

Views, admin, imports, tasks and management commands call these functions; none repeats their
logic. Each validates before it writes and raises django.core.exceptions.ValidationError with the
offending field named, leaving nothing half-written behind.
"""

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import QuerySet
from django.utils import timezone

from core import sql
from customers import stats
from customers.models import (
    Address,
    Customer,
    CustomerTag,
    Note,
    Order,
    OrderItem,
    OrderStatusChange,
    Tag,
    TagRemoval,
)
from customers.signals import order_delivered, order_delivery_reverted, orders_bulk_changed

ORDER_DELIVERED_NOT_DELETED = (
    "Order {number} is delivered: return or cancel it first (its points and the customer's "
    "stats are taken back then), and delete it after that."
)
CUSTOMER_NOT_DELETED = (
    "{customer} has orders or a loyalty ledger, which keep the shop's history: use Delete on the "
    "customer's page instead, which makes the customer inactive. Erasing a customer's personal "
    "data on request is a separate privacy step."
)
ORDER_FIELDS = tuple(field.name for field in Order._meta.concrete_fields)
CUSTOMER_EDITABLE_FIELDS = frozenset(
    field.name
    for field in Customer._meta.concrete_fields
    if field.editable and not field.primary_key and field.name not in {"created_at", "updated_at"}
)


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


def _save_validated(instance: models.Model, **save_kwargs: Any) -> None:
    """full_clean() then save(); a unique clash that won a race gets the same friendly error."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save(**save_kwargs)
    except IntegrityError:
        instance.validate_constraints()
        raise


def customer_create(
    *,
    first_name: str,
    last_name: str = "",
    email: str = "",
    phone: str = "",
    **fields: Any,
) -> Customer:
    """Create a customer. Email is stored lower-case and phone in E.164."""
    unknown = set(fields) - CUSTOMER_EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"customer_create() got unknown fields: {', '.join(sorted(unknown))}")
    customer = Customer(
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=normalize_email(email),
        phone=phone,
        **fields,
    )
    _save_validated(customer)
    return customer


def customer_update(*, customer: Customer, **fields: Any) -> Customer:
    """Change the given fields of a customer and save only those (stats are never written)."""
    unknown = set(fields) - CUSTOMER_EDITABLE_FIELDS
    if unknown:
        raise TypeError(f"customer_update() got unknown fields: {', '.join(sorted(unknown))}")
    if "email" in fields:
        fields["email"] = normalize_email(fields["email"])
    for name, value in fields.items():
        setattr(customer, name, value)
    update_fields = [*fields, "updated_at"]
    if "phone" in fields and "phone_extension" not in fields:
        # An extension typed with the number is moved to phone_extension by validation.
        update_fields.append("phone_extension")
    _save_validated(customer, update_fields=update_fields)
    return customer


def customer_deactivate(*, customer: Customer) -> Customer:
    """What "delete" means in the staff UI: the customer stays, with status inactive."""
    customer.status = Customer.Status.INACTIVE
    customer.save(update_fields=["status", "updated_at"])
    return customer


def _order_items_build(items: Sequence[Mapping[str, Any]]) -> list[OrderItem]:
    built, errors = [], {}
    for index, item in enumerate(items):
        data = dict(item)
        try:
            quantity = int(data.get("quantity", 1))
        except (TypeError, ValueError):
            errors[f"items[{index}].quantity"] = ["Enter a whole number."]
            continue
        try:
            unit_price = Decimal(str(data.get("unit_price", "0")))
        except ArithmeticError:
            errors[f"items[{index}].unit_price"] = ["Enter a number."]
            continue
        data.setdefault("line_total", unit_price * quantity)
        line = OrderItem(**{**data, "quantity": quantity, "unit_price": unit_price})
        try:
            line.full_clean(exclude=["order"])
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors[f"items[{index}].{field}"] = messages
        built.append(line)
    if errors:
        raise ValidationError(errors)
    return built


@transaction.atomic
def order_create(
    *,
    customer: Customer,
    number: str,
    placed_at: datetime | None = None,
    status: str = Order.Status.PENDING,
    items: Sequence[Mapping[str, Any]] = (),
    total: Decimal | None = None,
    discount_total: Decimal = Decimal("0"),
    shipping_total: Decimal = Decimal("0"),
    tax_total: Decimal = Decimal("0"),
    currency: str = "",
    payment_method: str = "",
    channel: str = "",
    notes: str = "",
    delivered_at: datetime | None = None,
) -> Order:
    """Create an order with its items. The total is the items less the discount plus shipping
    and tax; item count comes from the items. A total given with items must equal that (the
    ValidationError names ``total``); a total given without items is taken as it is. The
    currency is stored upper-case and must be an ISO 4217 code.

    An order created as delivered is stamped as delivered when it was placed (unless
    delivered_at says otherwise) and goes the way of a delivery at once, in the same
    transaction: the customer is locked, the order added to their stats, the other apps told.
    Nothing is written when anything is refused.
    """
    lines = _order_items_build(items)
    placed_at = placed_at or timezone.now()
    if status == Order.Status.DELIVERED:
        delivered_at = delivered_at or placed_at
    order = Order(
        customer=customer,
        number=number,
        status=status,
        placed_at=placed_at,
        delivered_at=delivered_at,
        total=Decimal("0") if total is None else total,
        discount_total=discount_total,
        shipping_total=shipping_total,
        tax_total=tax_total,
        item_count=sum(line.quantity for line in lines),
        currency=currency or settings.CRM_CURRENCY,
        payment_method=payment_method,
        channel=channel,
        notes=notes,
    )
    items_subtotal = sum((line.line_total for line in lines), Decimal("0"))
    if total is None:
        try:
            order.total = order.total_for_items(items_subtotal)
        except (TypeError, ArithmeticError):
            order.total = items_subtotal  # an amount is not a number: validation names it
    elif lines:
        order.items_subtotal = items_subtotal  # validation checks the given total against it
    delivered = status == Order.Status.DELIVERED
    # Inserted with its flag set, so the post_save safety net finds nothing left to do.
    order.stats_applied = delivered
    _save_validated(order)
    for line in lines:
        line.order = order
    OrderItem.objects.bulk_create(lines)
    if delivered:
        stats.customers_lock([customer.pk])
        _order_delivery_apply(order)
    return order


def order_set_status(*, order: Order, status: str, changed_by=None) -> Order:
    """Move an order to a new status if the move is allowed, and everything that follows, in one
    transaction: the order row is locked, the status (and delivered_at, entering delivered)
    written, the change recorded, the customer's stats updated and the other apps told
    (loyalty earns or takes back points). The given instance is updated to match.
    """
    if status not in Order.Status.values:
        raise ValidationError({"status": f"“{status}” is not an order status."})
    with transaction.atomic():
        # The order and its customer, locked in one query: every stats change of a customer
        # serialises on the customer's row, and the lock order is always order, then customer.
        locked = (
            Order.objects.select_for_update(of=("self", "customer"))
            .select_related("customer")
            .only("customer__id", *ORDER_FIELDS)
            .get(pk=order.pk)
        )
        Order.check_transition(locked.status, status)
        if locked.status != status:
            previous = locked.status
            delivered = status == Order.Status.DELIVERED
            changes = {"status": status, "updated_at": timezone.now()}
            if delivered:
                changes["delivered_at"] = changes["updated_at"]
            # The row is locked, so its flag is current: no conditional UPDATE needed here.
            applies = locked.stats_applied != delivered
            if applies:
                changes["stats_applied"] = delivered
            # An UPDATE, not save(): the post_save safety net has nothing to do for this path.
            Order.objects.filter(pk=locked.pk).update(**changes)
            for name, value in changes.items():
                setattr(locked, name, value)
            OrderStatusChange.objects.create(
                order=locked, from_status=previous, to_status=status, changed_by=changed_by
            )
            if applies:
                _order_delivery_apply(locked)
    for name in ("status", "delivered_at", "stats_applied", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return locked


def order_delete(*, order: Order) -> None:
    """Delete an order that does not stand delivered (a mistaken entry, a test order). A
    delivered order counts in the stats and has earned points: it is returned or cancelled
    first, so that both are taken back on the way."""
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status == Order.Status.DELIVERED:
            raise ValidationError({"status": ORDER_DELIVERED_NOT_DELETED.format(number=locked)})
        locked.delete()


def _order_delivery_apply(order: Order) -> None:
    """The order's stats_applied flag has just been set to match its status, and its customer's
    row is locked: add the order to (or take it out of) the customer's stats, then tell the other
    apps, in the same transaction."""
    if order.stats_applied:
        stats.customer_stats_add(order=order)
        order_delivered.send(sender=Order, order=order)
    else:
        stats.customer_stats_refresh(customer_id=order.customer_id)
        order_delivery_reverted.send(sender=Order, order=order)


def order_delivery_sync(*, order: Order) -> None:
    """Make the customer's stats agree with an order's status after a save that did not go
    through order_set_status (the admin form, the shell, fixtures); idempotent.

    The order's stats_applied flag is flipped by a conditional UPDATE, so of any number of saves
    (concurrent ones included) exactly one adds the order and exactly one takes it back.
    """
    delivered = order.status == Order.Status.DELIVERED
    with transaction.atomic():
        flipped = Order.objects.filter(pk=order.pk, stats_applied=not delivered).update(
            stats_applied=delivered
        )
        if flipped:
            order.stats_applied = delivered
            stats.customers_lock([order.customer_id])
            _order_delivery_apply(order)


def orders_bulk_sync(*, customer_ids: Iterable[int] | None = None) -> int:
    """What every bulk path (bulk_create, QuerySet.update, an import) calls afterwards: the
    customers' stats are recomputed and the other apps catch up (loyalty awards the points the
    delivered orders should have earned). Returns the number of customers whose stats changed."""
    ids = None if customer_ids is None else sorted(set(customer_ids))
    drifted = stats.customer_stats_recompute(customer_ids=ids)
    orders_bulk_changed.send(sender=Order, customer_ids=ids)
    return drifted


@transaction.atomic
def customer_tag_add(*, customer: Customer, name: str, added_by=None, create: bool = False) -> Tag:
    """Tag a customer by tag name (any letter case). A new tag is made only when create is True;
    any name is taken, its slug made from it ("café-crème", or "tag-…" for "!!!" or "😀")."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Enter a tag name."})
    tag = Tag.objects.filter(name__iexact=name).first()
    if tag is None:
        if not create:
            raise ValidationError({"name": f"There is no tag named “{name}”."})
        tag = Tag(name=name)
        _save_validated(tag)
    CustomerTag.objects.get_or_create(customer=customer, tag=tag, defaults={"added_by": added_by})
    return tag


@transaction.atomic
def customer_tag_remove(*, customer: Customer, tag: Tag, removed_by=None) -> bool:
    """Take a tag off a customer and record the removal (a TagRemoval, shown on the timeline with
    the addition it ends). Returns False, recording nothing, when the customer did not carry it."""
    link = CustomerTag.objects.filter(customer=customer, tag=tag).first()
    # Deleted by id and counted, so two people removing the same tag record one removal.
    if link is None or not CustomerTag.objects.filter(pk=link.pk).delete()[0]:
        return False
    TagRemoval.objects.create(
        customer=customer,
        tag=tag,
        added_at=link.added_at,
        added_by_id=link.added_by_id,
        removed_by=removed_by,
    )
    return True


@transaction.atomic
def customers_tag_add(*, customers: QuerySet[Customer], tag: Tag, added_by=None) -> int:
    """Tag every customer of ``customers`` with one INSERT … SELECT, whatever their number (the
    queryset is read by the database, not by Python). A customer who already carries the tag
    keeps it as it was, so running it again changes nothing. Returns how many were tagged now."""
    return sql.insert_for_each(
        model=CustomerTag,
        field="customer",
        queryset=customers,
        values={"tag": tag, "added_at": timezone.now(), "added_by": added_by},
        unique=("customer", "tag"),
    )


@transaction.atomic
def customers_tag_remove(*, customers: QuerySet[Customer], tag: Tag, removed_by=None) -> int:
    """Take the tag off every customer of ``customers`` who carries it, recording each removal
    as customer_tag_remove does (a TagRemoval), in set-based statements. Those without the tag
    are left alone, so running it again changes nothing. Returns how many lost the tag."""
    select, params = sql.ids_select(customers)
    now = sql.now_value()
    links, removals = sql.table(CustomerTag), sql.table(TagRemoval)
    link_columns = sql.columns(CustomerTag, "customer", "tag", "added_at", "added_by")
    removal_columns = sql.columns(
        TagRemoval, "customer", "tag", "added_at", "added_by", "removed_at", "removed_by"
    )
    tag_column, customer_column = (
        sql.columns(CustomerTag, "tag"),
        sql.columns(CustomerTag, "customer"),
    )
    chosen = f"{tag_column} = %s AND {customer_column} IN ({select})"
    removed_by_id = getattr(removed_by, "pk", None)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One statement: a link deleted by someone else meanwhile is not recorded twice.
            cursor.execute(
                f"WITH gone AS (DELETE FROM {links} WHERE {chosen} RETURNING {link_columns}) "
                f"INSERT INTO {removals} ({removal_columns}) "
                f"SELECT {link_columns}, %s, %s FROM gone",
                (tag.pk, *params, now, removed_by_id),
            )
            return cursor.rowcount
        # SQLite lets one writer in at a time, and this transaction is it from the INSERT on.
        cursor.execute(
            f"INSERT INTO {removals} ({removal_columns}) "
            f"SELECT {link_columns}, %s, %s FROM {links} WHERE {chosen}",
            (now, removed_by_id, tag.pk, *params),
        )
        cursor.execute(f"DELETE FROM {links} WHERE {chosen}", (tag.pk, *params))
        return cursor.rowcount


@transaction.atomic
def tags_merge(*, sources: list[Tag], target: Tag, merged_by=None) -> int:
    """Merge ``sources`` into ``target``: every customer who carried a source tag and not the
    target is tagged with the target (added now, by ``merged_by``), then the source tags are
    deleted, their links and removal records with them. In one transaction, the new links in
    batches; returns how many customers gained the target. Run again, it finds nothing to do."""
    source_ids = sorted({tag.pk for tag in sources} - {target.pk})
    if not source_ids:
        raise ValidationError("Choose at least one other tag to merge into the target.")
    # The tags locked, so no one tags a customer with a source while it is being merged.
    list(Tag.objects.select_for_update().filter(pk__in=[*source_ids, target.pk]).order_by("pk"))
    gaining = (
        CustomerTag.objects.filter(tag_id__in=source_ids)
        .exclude(customer__tags=target)
        .order_by()
        .values_list("customer_id", flat=True)
        .distinct()
    )
    customer_ids = list(gaining)
    CustomerTag.objects.bulk_create(
        (CustomerTag(customer_id=pk, tag=target, added_by=merged_by) for pk in customer_ids),
        batch_size=5000,
        ignore_conflicts=True,
    )
    Tag.objects.filter(pk__in=source_ids).delete()
    return len(customer_ids)


def note_create(
    *,
    customer: Customer,
    body: str,
    author=None,
    kind: str = Note.Kind.INTERNAL,
    priority: str = Note.Priority.NORMAL,
    pinned: bool = False,
    follow_up_on: date | None = None,
) -> Note:
    """Add a note; a body longer than settings.CRM_NOTE_MAX_LENGTH is refused at ``body``."""
    note = Note(
        customer=customer,
        body=body.strip(),
        author=author,
        kind=kind,
        priority=priority,
        pinned=pinned,
        follow_up_on=follow_up_on,
    )
    _save_validated(note)
    return note


def note_set_pinned(*, note: Note, pinned: bool) -> Note:
    note.pinned = pinned
    note.save(update_fields=["pinned"])
    return note


def note_complete(*, note: Note) -> Note:
    """Mark a note's follow-up done; it leaves the follow-ups-due list."""
    note.done = True
    note.save(update_fields=["done"])
    return note


@transaction.atomic
def _address_set_verification(
    *, address: Address, status: str, verified_by, notes: str = "", **coordinates: Any
) -> Address:
    # Lock the row so two staff members deciding the same address cannot both write.
    locked = Address.objects.select_for_update().get(pk=address.pk)
    if locked.verification_status != Address.VerificationStatus.PENDING:
        raise ValidationError(
            {
                "verification_status": (
                    f"This address was already {locked.get_verification_status_display().lower()}."
                )
            }
        )
    address.verification_status = status
    address.verified_by = verified_by
    address.verified_at = timezone.now()
    address.verification_notes = notes.strip()
    fields = ["verification_status", "verified_by", "verified_at", "verification_notes"]
    for name, value in coordinates.items():
        if value is not None:
            setattr(address, name, value)
            fields.append(name)
    # Only what this decision writes is checked: an address whose other fields fail today's rules
    # (a country cleared by a migration, say) can still be verified or rejected from the queue.
    address.full_clean(
        exclude=[field.name for field in Address._meta.fields if field.name not in fields],
        validate_constraints=False,
    )
    address.save(update_fields=fields)
    return address


def address_verify(
    *,
    address: Address,
    verified_by,
    notes: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
) -> Address:
    """Mark a pending address verified by a staff member, with optional notes and coordinates.

    Refuses (ValidationError on verification_status) an address that is no longer pending."""
    return _address_set_verification(
        address=address,
        status=Address.VerificationStatus.VERIFIED,
        verified_by=verified_by,
        notes=notes,
        latitude=latitude,
        longitude=longitude,
    )


def address_reject(*, address: Address, verified_by, notes: str) -> Address:
    """Mark a pending address rejected; the notes say why and are required."""
    if not notes.strip():
        raise ValidationError({"verification_notes": "Say why the address is rejected."})
    return _address_set_verification(
        address=address,
        status=Address.VerificationStatus.REJECTED,
        verified_by=verified_by,
        notes=notes,
    )


def addresses_verify(*, addresses: QuerySet[Address], verified_by) -> int:
    """Verify the pending ones of ``addresses`` (those the caller may see) at once, in one
    UPDATE; returns how many were verified."""
    return addresses.filter(verification_status=Address.VerificationStatus.PENDING).update(
        verification_status=Address.VerificationStatus.VERIFIED,
        verified_by=verified_by,
        verified_at=timezone.now(),
    )
