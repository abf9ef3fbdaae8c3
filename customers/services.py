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
from django.db.models import Case, F, FloatField, Q, Value, When
from django.db.models.functions import Cast, Round
from django.utils import timezone
from django.utils.text import slugify

from customers.models import (
    Address,
    Customer,
    CustomerTag,
    Note,
    Order,
    OrderItem,
    OrderStatusChange,
    Tag,
)
from customers.signals import order_delivered, order_delivery_reverted, orders_bulk_changed

CUSTOMER_EDITABLE_FIELDS = frozenset(
    field.name
    for field in Customer._meta.concrete_fields
    if field.editable and not field.primary_key and field.name not in {"created_at", "updated_at"}
)

# How many customer ids go into one recompute statement (SQLite allows 32,766 parameters).
RECOMPUTE_CHUNK = 5000


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
    _save_validated(customer, update_fields=[*fields, "updated_at"])
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
        quantity = data.get("quantity", 1)
        unit_price = Decimal(str(data.get("unit_price", "0")))
        data.setdefault("line_total", unit_price * quantity)
        line = OrderItem(**{**data, "unit_price": unit_price})
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
    currency: str = "",
    payment_method: str = "",
    channel: str = "",
    notes: str = "",
    delivered_at: datetime | None = None,
) -> Order:
    """Create an order with its items. Total and item count come from the items unless given.

    An order created as delivered counts in the customer's stats at once (through the delivery
    receiver), stamped as delivered when it was placed unless delivered_at says otherwise.
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
        total=sum((line.line_total for line in lines), Decimal("0")) if total is None else total,
        item_count=sum(line.quantity for line in lines),
        currency=currency or settings.CRM_CURRENCY,
        payment_method=payment_method,
        channel=channel,
        notes=notes,
    )
    _save_validated(order)
    for line in lines:
        line.order = order
    OrderItem.objects.bulk_create(lines)
    return order


def order_set_status(*, order: Order, status: str, changed_by=None) -> Order:
    """Move an order to a new status if the move is allowed, under a row lock.

    Delivered stamps delivered_at. The save triggers the delivery receiver, so stats and loyalty
    follow in the same transaction. The given instance is updated to match.
    """
    if status not in Order.Status.values:
        raise ValidationError({"status": f"“{status}” is not an order status."})
    with transaction.atomic():
        locked = Order.objects.select_for_update().get(pk=order.pk)
        Order.check_transition(locked.status, status)
        if locked.status != status:
            previous = locked.status
            locked.status = status
            update_fields = ["status", "updated_at"]
            if status == Order.Status.DELIVERED:
                locked.delivered_at = timezone.now()
                update_fields.append("delivered_at")
            locked.save(update_fields=update_fields)
            OrderStatusChange.objects.create(
                order=locked, from_status=previous, to_status=status, changed_by=changed_by
            )
    for name in ("status", "delivered_at", "stats_applied", "updated_at"):
        setattr(order, name, getattr(locked, name))
    return locked


def order_delivery_sync(*, order: Order) -> None:
    """Make the customer's stats agree with the order's status after a save; idempotent.

    The order's stats_applied flag is flipped by a conditional UPDATE, so of any number of saves
    (concurrent ones included) exactly one adds the order and exactly one takes it back.
    """
    delivered = order.status == Order.Status.DELIVERED
    with transaction.atomic():
        flipped = Order.objects.filter(pk=order.pk, stats_applied=not delivered).update(
            stats_applied=delivered
        )
        if not flipped:
            return
        order.stats_applied = delivered
        if delivered:
            _customer_stats_add(order)
            order_delivered.send(sender=Order, order=order)
        else:
            customer_stats_recompute(customer_ids=[order.customer_id])
            order_delivery_reverted.send(sender=Order, order=order)


def _customer_stats_add(order: Order) -> None:
    placed_at = Value(order.placed_at)
    new_total = F("total_spent") + Value(order.total)
    if connection.vendor == "sqlite":
        # SQLite divides integers as integers; the average needs real division.
        new_total = Cast(new_total, FloatField())
    Customer.objects.filter(pk=order.customer_id).update(
        order_count=F("order_count") + 1,
        total_spent=Round(F("total_spent") + Value(order.total), 2),
        total_items=F("total_items") + order.item_count,
        average_order_value=Round(new_total / (F("order_count") + 1), 2),
        first_order_at=Case(
            When(Q(first_order_at__isnull=True) | Q(first_order_at__gt=placed_at), then=placed_at),
            default=F("first_order_at"),
        ),
        last_order_at=Case(
            When(Q(last_order_at__isnull=True) | Q(last_order_at__lt=placed_at), then=placed_at),
            default=F("last_order_at"),
        ),
    )


def customer_stats_recompute(*, customer_ids: Iterable[int] | None = None) -> int:
    """Set the stats of the given customers (all when None) from their delivered orders.

    Set-based: the aggregate of each chunk of ids goes into a temporary table, only the
    customers whose stats differ from it are rewritten, and the orders' stats_applied flags are
    brought in line with their status, so that later saves neither count an order twice nor miss
    one. Bulk paths that skip save() call this.
    Returns how many customers had drifted and were corrected.
    """
    if customer_ids is None:
        with transaction.atomic():
            return _stats_recompute_chunk(None)
    ids = sorted(set(customer_ids))
    drifted = 0
    with transaction.atomic():
        for start in range(0, len(ids), RECOMPUTE_CHUNK):
            drifted += _stats_recompute_chunk(ids[start : start + RECOMPUTE_CHUNK])
    return drifted


def orders_bulk_sync(*, customer_ids: Iterable[int] | None = None) -> int:
    """What every bulk path (bulk_create, QuerySet.update, an import) calls afterwards: the
    customers' stats are recomputed and the other apps catch up (loyalty awards the points the
    delivered orders should have earned). Returns the number of customers whose stats changed."""
    ids = None if customer_ids is None else sorted(set(customer_ids))
    drifted = customer_stats_recompute(customer_ids=ids)
    orders_bulk_changed.send(sender=Order, customer_ids=ids)
    return drifted


# The stats as SQL aggregates over one customer's delivered orders (aliased "o"), and what a
# customer without any has. customer_stats_recompute and the nightly run both use them.
STATS_AGGREGATES = {
    "order_count": "COUNT(*)",
    "total_spent": "ROUND(SUM(o.total), 2)",
    "total_items": "COALESCE(SUM(o.item_count), 0)",
    "average_order_value": "ROUND(SUM(o.total) * 1.0 / COUNT(*), 2)",
    "first_order_at": "MIN(o.placed_at)",
    "last_order_at": "MAX(o.placed_at)",
}
STATS_NONE = {
    "order_count": 0,
    "total_spent": 0,
    "total_items": 0,
    "average_order_value": 0,
    "first_order_at": None,
    "last_order_at": None,
}


def stats_aggregates_sql() -> str:
    return ", ".join(f"{expression} AS {name}" for name, expression in STATS_AGGREGATES.items())


def _id_filter(column: str, ids: list[int] | None) -> tuple[str, list[int]]:
    if ids is None:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _stats_comparison(source: str) -> dict[str, Any]:
    """SQL pieces comparing the customers' stored stats with the table ``source`` (customer_id
    and the STATS_AGGREGATES columns, one row per customer with a delivered order; customers
    missing from it should have STATS_NONE)."""
    customers = connection.ops.quote_name(Customer._meta.db_table)
    return {
        "customers": customers,
        "differs": " OR ".join(
            f"{customers}.{name} IS DISTINCT FROM s.{name}" for name in STATS_AGGREGATES
        ),
        "missing": f"NOT EXISTS (SELECT 1 FROM {source} AS s WHERE s.customer_id = {customers}.id)",
        "empty_differs": " OR ".join(f"{name} IS DISTINCT FROM %s" for name in STATS_NONE),
        "empty_values": list(STATS_NONE.values()),
    }


def customer_stats_drifted(*, source: str) -> list[int]:
    """The ids of the customers whose stored stats disagree with the table ``source`` (see
    _stats_comparison), without writing anything."""
    sql = _stats_comparison(source)
    customers = sql["customers"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {customers}.id FROM {customers} JOIN {source} AS s "
            f"ON s.customer_id = {customers}.id WHERE {sql['differs']} "
            f"UNION ALL SELECT id FROM {customers} WHERE {sql['missing']} "
            f"AND ({sql['empty_differs']})",
            sql["empty_values"],
        )
        return sorted(row[0] for row in cursor.fetchall())


def _stats_write(*, source: str, customer_ids: list[int] | None) -> int:
    """Write the stats held in ``source`` to the customers (of ``customer_ids``, or all) whose
    stored stats differ; returns how many were rewritten."""
    sql = _stats_comparison(source)
    customers = sql["customers"]
    ids_sql, ids_params = _id_filter(f"{customers}.id", customer_ids)
    assignments = ", ".join(f"{name} = s.{name}" for name in STATS_AGGREGATES)
    empty_assignments = ", ".join(f"{name} = %s" for name in STATS_NONE)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {customers} SET {assignments} FROM {source} AS s "
            f"WHERE {customers}.id = s.customer_id AND ({sql['differs']}){ids_sql}",
            ids_params,
        )
        drifted = cursor.rowcount
        cursor.execute(
            f"UPDATE {customers} SET {empty_assignments} "
            f"WHERE {sql['missing']} AND ({sql['empty_differs']}){ids_sql}",
            [*sql["empty_values"], *sql["empty_values"], *ids_params],
        )
        return drifted + cursor.rowcount


def order_stats_flags_align(*, customer_ids: list[int] | None = None) -> int:
    """Bring the orders' stats_applied flags (of the given customers, or all) in line with their
    status, for stats that count every delivered order; returns how many orders changed."""
    order_table = connection.ops.quote_name(Order._meta.db_table)
    ids_sql, ids_params = _id_filter("customer_id", customer_ids)
    flag = "CASE WHEN status = %s THEN TRUE ELSE FALSE END"
    delivered = Order.Status.DELIVERED.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {order_table} SET stats_applied = {flag} "
            f"WHERE stats_applied <> {flag}{ids_sql}",
            [delivered, delivered, *ids_params],
        )
        return cursor.rowcount


def _stats_recompute_chunk(ids: list[int] | None) -> int:
    if ids == []:
        return 0
    order_table = connection.ops.quote_name(Order._meta.db_table)
    ids_sql, ids_params = _id_filter("o.customer_id", ids)
    # The aggregate goes into an indexed temporary table first, so the UPDATE's join plan does
    # not depend on table statistics (fresh or bulk-loaded tables have none worth trusting).
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS customer_stats_recompute")
        cursor.execute(
            f"CREATE TEMP TABLE customer_stats_recompute AS "
            f"SELECT o.customer_id, {stats_aggregates_sql()} FROM {order_table} o "
            f"WHERE o.status = %s{ids_sql} GROUP BY o.customer_id",
            [Order.Status.DELIVERED.value, *ids_params],
        )
        cursor.execute(
            "CREATE UNIQUE INDEX customer_stats_recompute_id "
            "ON customer_stats_recompute (customer_id)"
        )
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE customer_stats_recompute")
        drifted = _stats_write(source="customer_stats_recompute", customer_ids=ids)
        cursor.execute("DROP TABLE customer_stats_recompute")
    order_stats_flags_align(customer_ids=ids)
    return drifted


def customer_tag_add(*, customer: Customer, name: str, added_by=None, create: bool = False) -> Tag:
    """Tag a customer by tag name (any letter case). A new tag is made only when create is True."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Enter a tag name."})
    tag = Tag.objects.filter(name__iexact=name).first()
    if tag is None:
        if not create:
            raise ValidationError({"name": f"There is no tag named “{name}”."})
        tag = Tag(name=name, slug=slugify(name)[:60])
        _save_validated(tag)
    CustomerTag.objects.get_or_create(customer=customer, tag=tag, defaults={"added_by": added_by})
    return tag


def customer_tag_remove(*, customer: Customer, tag: Tag) -> None:
    CustomerTag.objects.filter(customer=customer, tag=tag).delete()


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
    address.full_clean(exclude=["customer"])
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


def addresses_verify(*, address_ids: Iterable[int], verified_by) -> int:
    """Verify several pending addresses at once (one UPDATE); returns how many were verified."""
    return Address.objects.filter(
        pk__in=list(address_ids), verification_status=Address.VerificationStatus.PENDING
    ).update(
        verification_status=Address.VerificationStatus.VERIFIED,
        verified_by=verified_by,
        verified_at=timezone.now(),
    )
