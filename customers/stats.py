"""A customer's stats: order_count, total_spent, total_items, average_order_value, first_order_at
and last_order_at, always equal to the aggregate of the customer's delivered orders.

Three ways to keep them, one definition of each stat (STATS_AGGREGATES):
- ``customer_stats_add``: a delivery adds one order with F() expressions, in one UPDATE;
- ``customer_stats_refresh``: one customer set again from their delivered orders, after locking
  the customer's row, so the aggregate reads what every earlier transaction committed (an order
  leaving delivered, an order deleted);
- ``customer_stats_recompute``: many customers at once, set-based through a ``StatsSummary``
  (bulk loads, imports, the nightly reconcile).

Every change to one customer's stats takes that customer's row lock before it reads anything it
computes from, so concurrent status changes of one customer's orders serialise on it.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, F, FloatField, Q, Value, When
from django.db.models.functions import Cast, Round

from customers.models import Customer, Order

# How many customer ids go into one recompute statement (SQLite allows 32,766 parameters).
RECOMPUTE_CHUNK = 5000

# Each stat as an SQL aggregate over one customer's delivered orders (aliased "o"), and what a
# customer without any delivered order has.
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


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


def _in_list(column: str, ids: Sequence[int] | None) -> tuple[str, list[int]]:
    if ids is None:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def stats_aggregates_sql() -> str:
    """The stats as a SELECT list over delivered orders aliased "o", grouped by customer."""
    return ", ".join(f"{expression} AS {name}" for name, expression in STATS_AGGREGATES.items())


def customers_lock(customer_ids: Sequence[int]) -> None:
    """Lock the customers' rows for this transaction, in id order (so two lockers cannot
    deadlock). A stats change computed from orders must hold its customer's lock first."""
    if connection.features.has_select_for_update and customer_ids:
        list(
            Customer.objects.select_for_update()
            .filter(pk__in=customer_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )


def customer_stats_add(*, order: Order) -> None:
    """Add one delivered order to its customer's stats: one UPDATE with F() expressions, which
    PostgreSQL applies to the newest committed row (the row lock it takes serialises it)."""
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


def customer_stats_refresh(*, customer_id: int) -> None:
    """Set one customer's stats from their delivered orders, in one UPDATE (no temporary table).

    The caller holds the customer's row lock (``customers_lock``, or order_set_status's lock of
    the order with its customer), so the aggregate, a statement that starts after the lock was
    granted, sees every order change committed before it.
    """
    names = ", ".join(STATS_AGGREGATES)
    aggregates = ", ".join(
        expression if STATS_NONE[name] is None else f"COALESCE({expression}, %s)"
        for name, expression in STATS_AGGREGATES.items()
    )
    defaults = [value for value in STATS_NONE.values() if value is not None]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_qn(Customer._meta.db_table)} SET ({names}) = "
            f"(SELECT {aggregates} FROM {_qn(Order._meta.db_table)} AS o "
            f"WHERE o.customer_id = %s AND o.status = %s) WHERE id = %s",
            [*defaults, customer_id, Order.Status.DELIVERED.value, customer_id],
        )


class StatsSummary:
    """A temporary table of the session with a row per customer who has a delivered order:
    customer_id, the stats (STATS_AGGREGATES) and any further columns its maker adds. It can say
    which customers' stored stats disagree with it, and write it to them.

    Filled by ``create()`` and dropped with ``drop()`` (or use it as a context
    manager). The aggregate goes into an indexed table first so that the join of a later UPDATE
    does not depend on table statistics (fresh or bulk-loaded tables have none worth trusting).
    """

    def __init__(self, name: str):
        self.name = name
        self.table = _qn(name)

    def create(
        self,
        *,
        orders_sql: str | None = None,
        params: Sequence[Any] = (),
        columns: Mapping[str, str] | None = None,
        customer_ids: Sequence[int] | None = None,
    ) -> "StatsSummary":
        """Aggregate delivered orders per customer into the temporary table (made anew).

        ``orders_sql`` selects the delivered orders to aggregate (customer_id, placed_at, total,
        item_count and whatever ``columns`` use); by default all delivered orders of
        ``customer_ids`` (or of everyone). ``columns`` maps further column names to aggregate
        expressions over it (aliased "o").
        """
        if orders_sql is None:
            ids_sql, ids_params = _in_list("customer_id", customer_ids)
            orders_sql = (
                f"SELECT customer_id, placed_at, total, item_count "
                f"FROM {_qn(Order._meta.db_table)} WHERE status = %s{ids_sql}"
            )
            params = [Order.Status.DELIVERED.value, *ids_params]
        extra = "".join(f", {sql} AS {column}" for column, sql in (columns or {}).items())
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(
                f"CREATE TEMP TABLE {self.table} AS "
                f"SELECT o.customer_id, {stats_aggregates_sql()}{extra} "
                f"FROM ({orders_sql}) AS o GROUP BY o.customer_id",
                list(params),
            )
            cursor.execute(
                f"CREATE UNIQUE INDEX {_qn(self.name + '_customer')} ON {self.table} (customer_id)"
            )
            if connection.vendor == "postgresql":
                cursor.execute(f"ANALYZE {self.table}")
        return self

    def __enter__(self) -> "StatsSummary":
        return self

    def __exit__(self, *exc_info) -> None:
        self.drop()

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")

    def rows(self, columns: Sequence[str], *, where: str = "") -> list[tuple]:
        """The summary's rows (the given columns, in customer order), optionally filtered by an
        SQL condition on its columns."""
        condition = f" WHERE {where}" if where else ""
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(columns)} FROM {self.table}{condition} ORDER BY customer_id"
            )
            return cursor.fetchall()

    def _comparison(self) -> dict[str, Any]:
        customers = _qn(Customer._meta.db_table)
        return {
            "customers": customers,
            "differs": " OR ".join(
                f"{customers}.{name} IS DISTINCT FROM s.{name}" for name in STATS_AGGREGATES
            ),
            "missing": (
                f"NOT EXISTS (SELECT 1 FROM {self.table} AS s WHERE s.customer_id = {customers}.id)"
            ),
            "empty_differs": " OR ".join(f"{name} IS DISTINCT FROM %s" for name in STATS_NONE),
            "empty_values": list(STATS_NONE.values()),
        }

    def drifted_customer_ids(self) -> list[int]:
        """The customers whose stored stats disagree with the summary (those missing from it
        should have STATS_NONE), without writing anything."""
        sql = self._comparison()
        customers = sql["customers"]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {customers}.id FROM {customers} JOIN {self.table} AS s "
                f"ON s.customer_id = {customers}.id WHERE {sql['differs']} "
                f"UNION ALL SELECT id FROM {customers} WHERE {sql['missing']} "
                f"AND ({sql['empty_differs']})",
                sql["empty_values"],
            )
            return sorted(row[0] for row in cursor.fetchall())

    def write(self, *, customer_ids: Sequence[int] | None = None) -> int:
        """Write the summary to the customers (of ``customer_ids``, or all) whose stored stats
        differ from it; returns how many were rewritten."""
        sql = self._comparison()
        customers = sql["customers"]
        ids_sql, ids_params = _in_list(f"{customers}.id", customer_ids)
        assignments = ", ".join(f"{name} = s.{name}" for name in STATS_AGGREGATES)
        empty_assignments = ", ".join(f"{name} = %s" for name in STATS_NONE)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {customers} SET {assignments} FROM {self.table} AS s "
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


def order_stats_flags_align(*, customer_ids: Sequence[int] | None = None) -> int:
    """Bring the orders' stats_applied flags (of the given customers, or all) in line with their
    status, for stats that count every delivered order; returns how many orders changed."""
    ids_sql, ids_params = _in_list("customer_id", customer_ids)
    flag = "CASE WHEN status = %s THEN TRUE ELSE FALSE END"
    delivered = Order.Status.DELIVERED.value
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_qn(Order._meta.db_table)} SET stats_applied = {flag} "
            f"WHERE stats_applied <> {flag}{ids_sql}",
            [delivered, delivered, *ids_params],
        )
        return cursor.rowcount


def _customers_lock_all() -> None:
    """Hold off every change of customer rows until this transaction ends (deliveries wait):
    what a recompute of everyone needs so that no delivery commits between its aggregate and
    its write. SQLite lets one writer in at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {_qn(Customer._meta.db_table)} IN SHARE ROW EXCLUSIVE MODE")


def _recompute_chunk(ids: list[int] | None) -> int:
    # Orders first, then customers: the lock order of order_set_status, so the two cannot
    # deadlock. The flags follow the status, and the stats follow the delivered orders.
    order_stats_flags_align(customer_ids=ids)
    if ids is None:
        _customers_lock_all()
    else:
        customers_lock(ids)
    with StatsSummary("customer_stats_recompute").create(customer_ids=ids) as summary:
        return summary.write(customer_ids=ids)


def customer_stats_recompute(*, customer_ids: Iterable[int] | None = None) -> int:
    """Set the stats of the given customers (all when None) from their delivered orders.

    Set-based, a chunk of ids at a time: the orders' stats_applied flags are brought in line
    with their status (so that later saves neither count an order twice nor miss one), the
    chunk's customers are locked (all: the table, against concurrent writes), their aggregate
    goes into a StatsSummary, and only the customers whose stats differ from it are rewritten.
    Bulk paths that skip save() call this.
    Returns how many customers had drifted and were corrected.
    """
    if customer_ids is None:
        with transaction.atomic():
            return _recompute_chunk(None)
    ids = sorted(set(customer_ids))
    drifted = 0
    with transaction.atomic():
        for start in range(0, len(ids), RECOMPUTE_CHUNK):
            drifted += _recompute_chunk(ids[start : start + RECOMPUTE_CHUNK])
    return drifted
