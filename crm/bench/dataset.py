"""The benchmark's shop: N customers and M orders over two years, generated with numpy chunk by
chunk and loaded into PostgreSQL with COPY.

Buying follows the kind of process the nightly analytics fits: each customer buys at their own
rate (Gamma-distributed across customers, so a few buy very often) and may drop out after each
purchase (a Beta-distributed probability), which gives many one-time buyers and a long tail of
heavy buyers. The overall rate is scaled so that the data set has exactly M orders. Customers join
over the two years, more of them lately (a growing shop); 12% never order. Order values are
lognormal around each customer's own level. Most orders are delivered; some are cancelled,
returned or refunded, and the last days' orders are still on their way.

Loading, in one transaction:
1. The two tables' secondary indexes and foreign keys are dropped, to be rebuilt at the end:
   building an index once over sorted data is much faster than growing it row by row.
2. Per chunk of customers: their orders are generated, the customers (their stats computed from
   those orders, as customer_stats_recompute would) are copied into customers_customer as text,
   and the orders into a temporary table in PostgreSQL's binary COPY format, which numpy encodes
   as one fixed-width record array without a Python loop.
3. One INSERT ... SELECT moves the orders into customers_order in placed_at order and numbers them
   in that order: a real shop's order table is in time order, not grouped by customer, and the
   planner's choices (and so the measured speed) depend on that physical order.
4. Indexes and foreign keys are rebuilt and the sequences set; after the commit both tables are
   vacuumed and analysed, as autovacuum would have left them.

Memory: a few arrays of one number per customer for the whole set (some 40 bytes a customer),
plus one chunk of orders at a time.
"""

import datetime as dt
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.management.color import no_style
from django.db import connection, transaction
from django.utils import timezone

from crm.bench.databases import BenchError, require_postgresql
from customers.models import Customer, Order
from customers.stats import customer_stats_recompute

# Bumped whenever the generated data change, so that a kept database of an older kind is rebuilt.
FORMAT = 1

HISTORY_DAYS = 730
PROSPECT_SHARE = 0.12  # customers who never order
RATE_SHAPE = 0.25  # Gamma shape of the purchase rates: small means very unequal customers
DROPOUT_A, DROPOUT_B = 0.6, 5.0  # Beta distribution of the drop-out chance after a purchase
MAX_ORDERS_PER_CUSTOMER = 2_000
CHUNK_CUSTOMERS = 50_000
DAY = 86_400
PG_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds; binary timestamps count microseconds from it
NO_TIME = np.iinfo(np.int64).min  # '-infinity' in binary timestamp format

ORDER_STATUSES = [status.value for status in Order.Status]
PAYMENT_METHODS = [method.value for method in Order.PaymentMethod]
ORDER_CHANNELS = [channel.value for channel in Order.Channel]


def _code(values: list[str], value: str) -> int:
    # Codes are 1-based: they index PostgreSQL arrays in the INSERT ... SELECT.
    return values.index(value) + 1


DELIVERED = _code(ORDER_STATUSES, "delivered")
SETTLED_STATUSES = {"delivered": 0.90, "cancelled": 0.04, "returned": 0.04, "refunded": 0.02}
PAYMENT_WEIGHTS = {
    "card": 0.60,
    "cash": 0.15,
    "wallet": 0.15,
    "bank_transfer": 0.04,
    "gift_card": 0.03,
    "other": 0.03,
}
CHANNEL_WEIGHTS = {"in_store": 0.45, "online": 0.40, "phone": 0.05, "marketplace": 0.10}

# One line of names reads better than sixty.
FIRST_NAMES = (  # noqa: SIM905
    "Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia Mateo Isabella Lucas Mia Levi Evelyn "
    "Asher Harper James Luna Leo Camila Ethan Gianna Sebastian Elizabeth Jack Eleanor Ezra Ella "
    "Hudson Abigail Maya Aiden Sofia Luca Avery Grace Henry Scarlett Owen Emily Wyatt Aria Daniel "
    "Chloe Samuel Nora Julian Lily Ines Hana Kenji Priya Omar Fatima Lars Zoe Mateus Anya"
).split()
LAST_NAMES = (  # noqa: SIM905
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Kowalski Tanaka "
    "Schmidt Rossi Dubois Silva Novak Larsen Okafor Patel"
).split()
AREA_CODES = (201, 212, 213, 305, 312, 404, 415, 503, 512, 617, 702, 713, 808, 917)
COMPANIES = ("Northwind Traders", "Contoso Ltd", "Fabrikam Inc", "Tailspin Toys", "Adventure Works")
CATEGORY_LISTS = ('["shoes"]', '["bags", "accessories"]', '["skincare"]', '["outerwear"]')

CUSTOMER_WEIGHTS = {
    "gender": {"female": 0.45, "male": 0.40, "non_binary": 0.02, "undisclosed": 0.03, "": 0.10},
    "customer_type": {
        "retail": 0.70,
        "walk_in": 0.08,
        "regular": 0.12,
        "vip": 0.03,
        "wholesale": 0.05,
        "distributor": 0.02,
    },
    "source": {
        "direct": 0.30,
        "online": 0.35,
        "marketplace": 0.10,
        "referral": 0.10,
        "walk_in": 0.10,
        "import": 0.05,
    },
    "status": {"active": 0.92, "inactive": 0.07, "suspended": 0.01},
    "best_contact_time": {"any": 0.70, "morning": 0.10, "afternoon": 0.10, "evening": 0.10},
    "preferred_channel": {"": 0.40, "email": 0.35, "sms": 0.15, "phone": 0.07, "push": 0.03},
    "preferred_payment": {"": 0.50, "card": 0.35, "cash": 0.10, "wallet": 0.05},
}
CONSENT_SHARES = {
    "accepts_email": 0.60,
    "accepts_sms": 0.35,
    "accepts_phone": 0.20,
    "accepts_push": 0.15,
    "do_not_contact": 0.02,
    "can_receive_offers": 0.90,
    "can_receive_loyalty": 0.95,
}
CUSTOMER_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "date_of_birth",
    "gender",
    "customer_type",
    "source",
    "status",
    "external_id",
    *CONSENT_SHARES,
    "best_contact_time",
    "preferred_channel",
    "preferred_payment",
    "preferred_categories",
    "attributes",
    "created_at",
    "updated_at",
    "order_count",
    "total_spent",
    "total_items",
    "average_order_value",
    "first_order_at",
    "last_order_at",
    "rfm_segment",
)

# The orders' staging table: fixed-width numbers only, so a chunk is one numpy record array.
STAGE_TABLE = "bench_order_stage"
STAGE_COLUMNS = (
    ("customer_id", "bigint", ">i8"),
    ("seq", "bigint", ">i8"),
    ("placed_at", "timestamptz", ">i8"),
    ("delivered_at", "timestamptz", ">i8"),
    ("total_cents", "bigint", ">i8"),
    ("item_count", "integer", ">i4"),
    ("status", "smallint", ">i2"),
    ("payment", "smallint", ">i2"),
    ("channel", "smallint", ">i2"),
)
STAGE_RECORD = np.dtype(
    [("field_count", ">i2")]
    + [
        field
        for name, _, kind in STAGE_COLUMNS
        for field in ((f"{name}_length", ">i4"), (name, kind))
    ]
)
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, no flags, no header extension
BINARY_TRAILER = b"\xff\xff"


@dataclass(frozen=True)
class DatasetSpec:
    """What a data set is: the same spec always generates the same rows."""

    customers: int
    orders: int
    as_of: dt.date
    seed: int = 42

    @classmethod
    def for_size(
        cls,
        customers: int,
        *,
        orders_per_customer: float = 10,
        as_of: dt.date | None = None,
        seed: int = 42,
    ) -> "DatasetSpec":
        if customers < 1 or orders_per_customer <= 0:
            raise BenchError("A data set needs at least one customer and some orders.")
        if orders_per_customer >= MAX_ORDERS_PER_CUSTOMER / 4:
            raise BenchError(
                f"At most {MAX_ORDERS_PER_CUSTOMER // 4 - 1} orders per customer on average."
            )
        return cls(
            customers=customers,
            orders=round(customers * orders_per_customer),
            # History ends yesterday: the nightly run scores the day that has just finished.
            as_of=as_of or timezone.now().date() - dt.timedelta(days=1),
            seed=seed,
        )

    def as_dict(self) -> dict:
        return {
            "customers": self.customers,
            "orders": self.orders,
            "as_of": self.as_of.isoformat(),
            "seed": self.seed,
            "format": FORMAT,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "DatasetSpec":
        return cls(
            customers=int(data["customers"]),
            orders=int(data["orders"]),
            as_of=dt.date.fromisoformat(data["as_of"]),
            seed=int(data["seed"]),
        )

    def same_rows(self, data: dict) -> bool:
        """Whether a stored description is of this data set (its as-of date aside)."""
        return data.get("format") == FORMAT and all(
            data.get(key) == value
            for key, value in self.as_dict().items()
            if key not in ("as_of", "format")
        )

    @property
    def history_end(self) -> int:
        """The last second of the as-of day, in Unix seconds (UTC)."""
        midnight = dt.datetime.combine(self.as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
        return int(midnight.timestamp()) - 1


@dataclass
class _Plan:
    """Per customer, for the whole set: when they joined, their first purchase, how many repeat
    purchases they make, and how many their rate would have allowed (which spaces them out)."""

    joined: np.ndarray
    first: np.ndarray
    buyer: np.ndarray
    repeats: np.ndarray
    reach: np.ndarray


def build_dataset(
    spec: DatasetSpec, *, drop_indexes: bool = True, progress: Callable[[str], None] | None = None
) -> dict:
    """Fill the empty customer and order tables of the current database with the data set and
    return the figures of the build (rows, skew, seconds per step, drift found afterwards)."""
    require_postgresql()
    if Customer.objects.exists() or Order.objects.exists():
        raise BenchError(
            "The customer and order tables must be empty: the benchmark builds its data set in a "
            "database of its own."
        )
    say = progress or (lambda message: None)
    started = time.perf_counter()
    plan = _plan(spec)
    seconds = {"generate": time.perf_counter() - started, "copy": 0.0}
    counts = np.where(plan.buyer, plan.repeats + 1, 0)
    delivered = 0
    qn = connection.ops.quote_name
    tables = [Customer._meta.db_table, Order._meta.db_table]
    with transaction.atomic(), connection.cursor() as cursor:
        # Only for this transaction: room for the sort and the index builds of a large set.
        cursor.execute("SET LOCAL work_mem = '512MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        rebuild = _drop_secondary_structures(cursor, tables) if drop_indexes else []
        columns = ", ".join(f"{name} {kind}" for name, kind, _ in STAGE_COLUMNS)
        cursor.execute(f"CREATE TEMPORARY TABLE {STAGE_TABLE} ({columns}) ON COMMIT DROP")
        chunks = range(0, spec.customers, CHUNK_CUSTOMERS)
        seq = 0
        for number, low in enumerate(chunks):
            high = min(low + CHUNK_CUSTOMERS, spec.customers)
            mark = time.perf_counter()
            customer_text, order_records = _chunk(spec, plan, low, high, number, seq)
            seq += len(order_records)
            delivered += int(np.count_nonzero(order_records["status"] == DELIVERED))
            stage = BINARY_HEADER + order_records.tobytes() + BINARY_TRAILER
            del order_records
            seconds["generate"] += time.perf_counter() - mark
            mark = time.perf_counter()
            with cursor.copy(
                f"COPY {qn(tables[0])} ({', '.join(CUSTOMER_COLUMNS)}) FROM STDIN"
            ) as copy:
                copy.write(customer_text)
            with cursor.copy(f"COPY {STAGE_TABLE} FROM STDIN (FORMAT BINARY)") as copy:
                copy.write(stage)
            seconds["copy"] += time.perf_counter() - mark
            if number % 10 == 9 or high == spec.customers:
                say(f"{high:,} of {spec.customers:,} customers and {seq:,} orders copied")
        mark = time.perf_counter()
        cursor.execute(
            _ORDERS_INSERT.format(orders=qn(tables[1]), stage=STAGE_TABLE),
            [
                "ORD-",
                ORDER_STATUSES,
                settings.CRM_CURRENCY,
                PAYMENT_METHODS,
                ORDER_CHANNELS,
                DELIVERED,
            ],
        )
        cursor.execute(f"DROP TABLE {STAGE_TABLE}")
        seconds["orders_insert"] = time.perf_counter() - mark
        say("orders in place; building indexes")
        mark = time.perf_counter()
        for statement in rebuild:
            cursor.execute(statement)
        for statement in connection.ops.sequence_reset_sql(no_style(), [Customer, Order]):
            cursor.execute(statement)
        seconds["indexes"] = time.perf_counter() - mark
    mark = time.perf_counter()
    vacuum_analyze(tables)
    seconds["vacuum_analyze"] = time.perf_counter() - mark
    say("checking the stats against the orders")
    mark = time.perf_counter()
    drift = customer_stats_recompute()
    seconds["stats_check"] = time.perf_counter() - mark
    buyers = counts[counts > 0]
    return {
        "customers": spec.customers,
        "orders": int(counts.sum()),
        "delivered_orders": delivered,
        "customers_with_orders": len(buyers),
        "one_time_buyers": int(np.count_nonzero(buyers == 1)),
        "orders_per_buyer": _percentiles(buyers),
        "top_1_percent_share_of_orders": _top_share(counts, 0.01),
        "stats_drift": drift,
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "total_seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


_ORDERS_INSERT = """
    INSERT INTO {orders} (
        id, number, status, placed_at, delivered_at, total, currency, item_count,
        payment_method, channel, notes, stats_applied, created_at, updated_at, customer_id
    )
    SELECT n, %s || lpad(n::text, 10, '0'), (%s::varchar[])[status], placed_at, delivered,
           total_cents / 100.0, %s, item_count, (%s::varchar[])[payment],
           (%s::varchar[])[channel], '', status = %s, placed_at,
           COALESCE(delivered, placed_at), customer_id
    FROM (
        SELECT row_number() OVER (ORDER BY placed_at, seq) AS n,
               NULLIF(delivered_at, '-infinity') AS delivered, staged.*
        FROM {stage} AS staged
    ) AS numbered
"""


def _drop_secondary_structures(cursor, tables: list[str]) -> list[str]:
    """Drop the tables' indexes (other than those behind their primary key and unique
    constraints) and their foreign keys; return the statements that rebuild them."""
    qn = connection.ops.quote_name
    cursor.execute(
        """
        SELECT index_class.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i JOIN pg_class index_class ON index_class.oid = i.indexrelid
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint c
              WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid
          )
        ORDER BY index_class.relname
        """,
        [tables],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        """
        SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
        FROM pg_constraint WHERE contype = 'f' AND conrelid = ANY(%s::regclass[])
        ORDER BY conname
        """,
        [tables],
    )
    foreign_keys = cursor.fetchall()
    for table, name, _ in foreign_keys:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {qn(name)}")
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {qn(name)}")
    return [definition for _, definition in indexes] + [
        f"ALTER TABLE {table} ADD CONSTRAINT {qn(name)} {definition}"
        for table, name, definition in foreign_keys
    ]


def _plan(spec: DatasetSpec) -> _Plan:
    rng = np.random.default_rng([spec.seed, 0])
    n = spec.customers
    # Joining dates with a density rising from 0.5 to 1.5 over the history (inverse CDF), in id
    # order, so ids grow with created_at as they do in a real table.
    quantile = (np.arange(n) + rng.random(n)) / n
    joined = HISTORY_DAYS * (np.sqrt(0.25 + 2 * quantile) - 0.5)
    buyer = rng.random(n) < min(1 - PROSPECT_SHARE, spec.orders / n / 1.5)
    if np.count_nonzero(buyer) > spec.orders:
        chosen = rng.choice(np.flatnonzero(buyer), spec.orders, replace=False)
        buyer[:] = False
        buyer[chosen] = True
    # Most first purchases happen on joining (at the till); the rest within weeks, if the
    # history still has room.
    first = joined + np.where(rng.random(n) < 0.7, 0.0, rng.exponential(10.0, n))
    first = np.where(first < HISTORY_DAYS, first, joined)
    exposure = rng.gamma(RATE_SHAPE, 1.0, n) * (HISTORY_DAYS - first)
    dropout = np.maximum(rng.beta(DROPOUT_A, DROPOUT_B, n), 1e-9)
    target = spec.orders - int(np.count_nonzero(buyer))
    scale = _rate_scale(exposure[buyer], dropout[buyer], target)
    reach = rng.poisson(scale * exposure)
    stays = rng.geometric(dropout) - 1
    repeats = np.where(buyer, np.minimum(np.minimum(reach, stays), MAX_ORDERS_PER_CUSTOMER - 1), 0)
    _match_total(repeats, buyer, target, rng)
    return _Plan(
        joined=joined,
        first=first,
        buyer=buyer,
        repeats=repeats,
        reach=np.maximum(reach, repeats),
    )


def _rate_scale(exposure: np.ndarray, dropout: np.ndarray, target: int) -> float:
    """The factor on every purchase rate that makes the expected repeat purchases total target.

    A customer's repeats are min(purchases before drop-out, purchases their rate allows), a
    Geometric and a Poisson variable, whose expected minimum is q/p * (1 - exp(-mu * p))."""
    if target <= 0 or not len(exposure):
        return 0.0
    stay = 1.0 - dropout

    def expected(scale: float) -> float:
        return float(np.sum(stay / dropout * -np.expm1(-scale * exposure * dropout)))

    low, high = 0.0, 1.0
    while expected(high) < target and high < 1e6:
        low, high = high, high * 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if expected(middle) < target else (low, middle)
    return high


def _match_total(repeats: np.ndarray, buyer: np.ndarray, target: int, rng) -> None:
    """Nudge single customers' repeat counts by one until they add up to target exactly."""
    ceiling = MAX_ORDERS_PER_CUSTOMER - 1
    missing = target - int(repeats.sum())
    while missing:
        if missing > 0:
            eligible = np.flatnonzero(buyer & (repeats > 0) & (repeats < ceiling))
            if not len(eligible):
                eligible = np.flatnonzero(buyer & (repeats < ceiling))
            if not len(eligible):
                raise BenchError("Too many orders for the customers in the data set.")
            step = 1
        else:
            eligible, step = np.flatnonzero(repeats > 0), -1
        chosen = rng.choice(eligible, min(abs(missing), len(eligible)), replace=False)
        repeats[chosen] += step
        missing -= step * len(chosen)


def _weighted(rng, weights: dict[str, float], size: int) -> np.ndarray:
    names = np.array(list(weights))
    chances = np.array(list(weights.values()))
    return names[rng.choice(len(names), size=size, p=chances / chances.sum())]


def _codes(rng, names: list[str], weights: dict[str, float], size: int) -> np.ndarray:
    codes = np.array([_code(names, name) for name in weights], dtype=np.int16)
    chances = np.array(list(weights.values()))
    return codes[rng.choice(len(codes), size=size, p=chances / chances.sum())]


def _chunk(spec: DatasetSpec, plan: _Plan, low: int, high: int, number: int, seq: int):
    """The customers low..high-1 (ids low+1..high) as COPY text, and their orders as binary
    COPY records for the staging table (seq numbers them across chunks)."""
    rng = np.random.default_rng([spec.seed, 1 + number])
    owner, days = _order_days(plan, low, high, rng)
    orders = _orders(spec, owner, days, high - low, rng)
    records = np.empty(len(owner), dtype=STAGE_RECORD)
    records["field_count"] = len(STAGE_COLUMNS)
    for name, _, kind in STAGE_COLUMNS:
        records[f"{name}_length"] = np.dtype(kind).itemsize
    records["customer_id"] = low + 1 + owner
    records["seq"] = seq + np.arange(len(owner))
    for name in ("placed_at", "delivered_at"):
        records[name] = np.where(
            orders[name] == NO_TIME, NO_TIME, (orders[name] - PG_EPOCH) * 1_000_000
        )
    for name in ("total_cents", "item_count", "status", "payment", "channel"):
        records[name] = orders[name]
    return _customer_text(spec, plan, low, high, owner, orders, rng), records


def _order_days(plan: _Plan, low: int, high: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Each order's customer (an index into the chunk) and day (since the history started),
    grouped by customer, first purchase first."""
    n = high - low
    buyer, repeats, first = plan.buyer[low:high], plan.repeats[low:high], plan.first[low:high]
    counts = np.where(buyer, repeats + 1, 0)
    owner = np.repeat(np.arange(n), counts)
    starts = np.cumsum(counts) - counts
    days = np.empty(len(owner))
    days[starts[buyer]] = first[buyer]
    repeat_total = int(repeats.sum())
    if not repeat_total:
        return owner, days
    # Repeat purchases are the first `repeats` of the `reach` arrivals a Poisson process puts in
    # the customer's window: uniform order statistics, drawn as normalised cumulative sums of
    # exponential gaps (the Gamma draw stands for the sum of the gaps after them).
    repeat_owner = np.repeat(np.arange(n), repeats)
    repeat_starts = np.cumsum(repeats) - repeats
    sums = np.cumsum(rng.standard_exponential(repeat_total))
    within = sums - np.concatenate(([0.0], sums))[repeat_starts][repeat_owner]
    has = repeats > 0
    spread = np.ones(n)
    spread[has] = within[repeat_starts[has] + repeats[has] - 1] + rng.gamma(
        plan.reach[low:high][has] - repeats[has] + 1.0
    )
    window = HISTORY_DAYS - first
    position = starts[repeat_owner] + 1 + np.arange(repeat_total) - repeat_starts[repeat_owner]
    days[position] = first[repeat_owner] + window[repeat_owner] * within / spread[repeat_owner]
    return owner, days


def _orders(spec: DatasetSpec, owner: np.ndarray, days: np.ndarray, n: int, rng) -> dict:
    """The orders' columns as arrays: times in Unix seconds, statuses and the like as codes."""
    end = spec.history_end
    placed = np.minimum(end - HISTORY_DAYS * DAY + np.floor(days * DAY).astype(np.int64), end)
    size = len(placed)
    channel = _codes(rng, ORDER_CHANNELS, CHANNEL_WEIGHTS, size)
    in_store = channel == _code(ORDER_CHANNELS, "in_store")
    status = _codes(rng, ORDER_STATUSES, SETTLED_STATUSES, size)
    # The last days' orders bought online or by phone are still on their way.
    age = (end - placed) / DAY
    moving = ~in_store & (rng.random(size) < np.clip(1 - age / 10, 0, 1))
    pending, paid, processing, shipped = (
        _code(ORDER_STATUSES, name) for name in ("pending", "paid", "processing", "shipped")
    )
    fresh = np.array([pending, paid, processing])[rng.integers(0, 3, size)]
    packed = np.where(rng.random(size) < 0.5, processing, shipped)
    status = np.where(moving, np.select([age < 1, age < 4], [fresh, packed], shipped), status)
    travel = np.where(in_store, 0, (DAY * (0.5 + rng.gamma(2.0, 1.0, size))).astype(np.int64))
    handed_over = np.isin(status, [DELIVERED, _code(ORDER_STATUSES, "returned")])
    # Each customer spends around a level of their own.
    level = np.exp(rng.normal(np.log(40.0), 0.6, n))
    value = level[owner] * np.exp(rng.normal(-0.1, 0.45, size))
    return {
        "placed_at": placed,
        "delivered_at": np.where(handed_over, np.minimum(placed + travel, end), NO_TIME),
        "status": status,
        "channel": channel,
        "payment": _codes(rng, PAYMENT_METHODS, PAYMENT_WEIGHTS, size),
        "total_cents": np.maximum(np.rint(value * 100), 100).astype(np.int64),
        "item_count": np.minimum(1 + rng.poisson(np.minimum(value / 30.0, 40.0)), 50),
    }


def _customer_stats(owner: np.ndarray, orders: dict, n: int) -> dict:
    """What customer_stats_recompute would set, over delivered orders only."""
    done = orders["status"] == DELIVERED
    done_owner, placed = owner[done], orders["placed_at"][done]
    count = np.bincount(done_owner, minlength=n)
    spent = np.bincount(done_owner, weights=orders["total_cents"][done], minlength=n)
    items = np.bincount(done_owner, weights=orders["item_count"][done], minlength=n)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, done_owner, placed)
    last = np.zeros(n, dtype=np.int64)
    np.maximum.at(last, done_owner, placed)
    first[count == 0] = 0
    spent = np.rint(spent).astype(np.int64)
    return {
        "order_count": count,
        "spent_cents": spent,
        "total_items": np.rint(items).astype(np.int64),
        # PostgreSQL's ROUND(sum / count, 2) rounds half away from zero; in whole cents:
        "average_cents": (2 * spent + count) // np.maximum(2 * count, 1),
        "first_order_at": first,
        "last_order_at": last,
    }


def _customer_text(spec, plan, low, high, owner, orders, rng) -> str:
    """COPY text rows for customers low..high-1, their stats taken from their orders."""
    n = high - low
    stats = _customer_stats(owner, orders, n)
    start = spec.history_end - HISTORY_DAYS * DAY
    created = start + np.floor(plan.joined[low:high] * DAY).astype(np.int64)
    touched = np.full(n, -1, dtype=np.int64)
    np.maximum.at(touched, owner, np.maximum(orders["placed_at"], orders["delivered_at"]))
    ids = np.arange(low + 1, high + 1).tolist()
    given = np.array(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n)].tolist()
    family = np.array(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)].tolist()
    area = np.array(AREA_CODES)[rng.integers(0, len(AREA_CODES), n)].tolist()
    birth = np.datetime64("1950-01-01") + rng.integers(0, 57 * 365, n).astype("timedelta64[D]")
    never = stats["order_count"] == 0
    columns = {
        "id": ids,
        "first_name": given,
        "last_name": family,
        "email": [
            f"{first.lower()}.{last.lower()}{number}@example.com" if keep else ""
            for first, last, number, keep in zip(
                given, family, ids, rng.random(n) < 0.92, strict=True
            )
        ],
        # 555-0100 to 555-0199 are reserved for fiction in every North American area code.
        "phone": [
            f"+1{code}555{100 + number % 100:04d}" if keep else ""
            for code, number, keep in zip(area, ids, rng.random(n) < 0.85, strict=True)
        ],
        "company": _sometimes(rng, COMPANIES, 0.08, n, ""),
        "date_of_birth": np.where(
            rng.random(n) < 0.6, np.datetime_as_string(birth, unit="D"), r"\N"
        ),
        **{name: _weighted(rng, weights, n) for name, weights in CUSTOMER_WEIGHTS.items()},
        "external_id": [
            f"POS-{number:08d}" if keep else ""
            for number, keep in zip(ids, rng.random(n) < 0.75, strict=True)
        ],
        **{
            name: np.where(rng.random(n) < share, "t", "f")
            for name, share in CONSENT_SHARES.items()
        },
        "preferred_categories": _sometimes(rng, CATEGORY_LISTS, 0.2, n, "[]"),
        "attributes": ["{}"] * n,
        "created_at": _timestamps(created),
        "updated_at": _timestamps(np.maximum(created, touched)),
        "order_count": stats["order_count"],
        "total_spent": _money(stats["spent_cents"]),
        "total_items": stats["total_items"],
        "average_order_value": _money(stats["average_cents"]),
        "first_order_at": _timestamps(stats["first_order_at"], missing=never),
        "last_order_at": _timestamps(stats["last_order_at"], missing=never),
        "rfm_segment": [""] * n,
    }
    rows = zip(*(_strings(columns[name]) for name in CUSTOMER_COLUMNS), strict=True)
    return "\n".join(map("\t".join, rows)) + "\n"


def _sometimes(rng, choices, share: float, n: int, otherwise: str) -> np.ndarray:
    picked = np.array(choices)[rng.integers(0, len(choices), n)]
    return np.where(rng.random(n) < share, picked, otherwise)


def _strings(values) -> list[str]:
    if isinstance(values, np.ndarray):
        return values.astype(str).tolist()
    return [str(value) for value in values] if values and not isinstance(values[0], str) else values


def _timestamps(seconds: np.ndarray, missing: np.ndarray | None = None) -> np.ndarray:
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s", timezone="UTC")
    return text if missing is None else np.where(missing, r"\N", text)


def _money(cents: np.ndarray) -> list[str]:
    return [f"{value // 100}.{value % 100:02d}" for value in cents.tolist()]


def _percentiles(values: np.ndarray) -> dict:
    if not len(values):
        return {}
    names = ("p50", "p90", "p99", "p99_9")
    points = np.percentile(values, [50, 90, 99, 99.9])
    return {
        "mean": round(float(values.mean()), 2),
        **{name: int(point) for name, point in zip(names, points, strict=True)},
        "max": int(values.max()),
    }


def _top_share(counts: np.ndarray, fraction: float) -> float:
    top = max(1, int(len(counts) * fraction))
    total = counts.sum()
    return round(float(np.sort(counts)[-top:].sum() / total), 3) if total else 0.0


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (ru_maxrss is kB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def vacuum_analyze(tables) -> None:
    """VACUUM (ANALYZE) each table, as autovacuum would in time: no dead rows left by a
    measurement slow the next one down."""
    with connection.cursor() as cursor:
        for table in tables:
            # VACUUM cannot run inside a transaction (a test's); ANALYZE alone still plans right.
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
            cursor.execute(f"{command} {connection.ops.quote_name(table)}")


def memory_mb() -> dict[str, float] | None:
    """This process's resident memory now and its peak since ``memory_peak_reset`` (Linux's
    VmRSS and VmHWM), or None where /proc has neither."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            fields = dict(line.split(":", 1) for line in status if ":" in line)
        return {
            name: round(int(fields[key].split()[0]) / 2**10, 1)
            for name, key in (("now", "VmRSS"), ("peak", "VmHWM"))
        }
    except (OSError, KeyError, ValueError):
        return None


def memory_peak_reset() -> None:
    """Start the peak of ``memory_mb`` again from the memory now (Linux: /proc/self/clear_refs),
    so that a measurement reports its own peak, not one of an earlier step."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass
