"""The nightly scoring run: one pass over delivered orders, as of a date.

Steps (each timed into AnalyticsRun.step_timings):
1. aggregate: one pass over the delivered orders summarises each customer's: the denormalised
   stats, and up to the as-of date the purchase days (several orders on one day are one
   purchase), first and last purchase day and spend.
2. reconcile: the stored stats are compared with that summary; the customers that disagree are
   recomputed from their orders as they are now, and those that had drifted are counted.
3. rfm: R, F, M scores and the segment.
4. churn: the MBG/NBD (default) or BG/NBD model is fitted by maximum likelihood, on a random
   sample of customers when there are many (the estimates of four parameters barely move past a
   few tens of thousands), then p_alive and expected orders are computed for everyone.
5. spend: the Gamma-Gamma model, for expected spend per order, hence predicted value (CLV).
   backtest: the churn model fitted again on the history up to a calibration end (by default 90
   days before the as-of date), its predictions for the days since compared with what happened
   (customers.analytics.backtest), from the same pass over the orders.
6. write: the scores go into a temporary table and one UPDATE ... FROM rewrites only the
   customers whose scores changed; customers without a delivered order become "Prospect". The
   searchable copy of the scores (customers.analytics.scores) is rebuilt in the same
   transaction, and the dashboard's customer figures are recorded on the run.
Too little data (fewer than CRM_ANALYTICS_MIN_CUSTOMERS customers with a purchase) or a fit that
does not converge uses the recency/frequency heuristic below instead, and the run says so.
"""

import contextlib
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from customers.analytics import backtest, churn, rfm, spend
from customers.analytics.ops import (
    AnalyticsRunTransitionError,
    analytics_run_create,
    analytics_run_heartbeat,
    analytics_run_transition,
    analytics_runs_abandoned_fail,
)
from customers.analytics.scores import score_table_rebuild
from customers.analytics.vocabulary import DEFAULT_MODEL, PROSPECT
from customers.models import AnalyticsRun, Customer, CustomerScore, Order
from customers.sales import sales_days_rebuild
from customers.selectors import customer_totals, rfm_segment_tally
from customers.signals import analytics_run_finished
from customers.stats import StatsSummary, customer_stats_recompute

LOCK_KEY = 0x43524D01  # an arbitrary constant: the advisory lock of the analytics run
HORIZON_DAYS = 90
CLV_DAYS = 365


class AnalyticsAlreadyRunning(Exception):
    pass


# The lock -------------------------------------------------------------------------------------


CACHE_LOCK = "crm-analytics-run-lock"


def _lock_acquire() -> bool:
    """PostgreSQL's session advisory lock ends with the connection of a worker that dies. The
    cache lock cannot be let go by a killed worker, so it lasts only the heartbeat timeout and
    each heartbeat renews it."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
            return bool(cursor.fetchone()[0])
    return cache.add(CACHE_LOCK, "locked", timeout=settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT)


def _lock_renew() -> None:
    if connection.vendor != "postgresql":
        cache.touch(CACHE_LOCK, timeout=settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT)


def _lock_release() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
    else:
        cache.delete(CACHE_LOCK)


def large_work_mem(cursor) -> None:
    """Let this transaction's big GROUP BY hash in memory instead of spilling to temporary files
    (PostgreSQL's default work_mem is 4 MB)."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT set_config('work_mem', %s, true)", [settings.CRM_ANALYTICS_WORK_MEM])


# Reading --------------------------------------------------------------------------------------


def _epoch_day(column: str) -> str:
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


SUMMARY = StatsSummary("analytics_customer_orders")
SUMMARY_COLUMNS = (
    "customer_id",
    "first_day",
    "last_day",
    "purchase_days",
    "orders",
    "spend",
    "first_value",
)


def orders_summarise(as_of: date, calibration_end: date | None = None) -> None:
    """One pass over the delivered orders into SUMMARY (a session's temporary table), a
    row per customer with a delivered order: the denormalised stats (all delivered orders, the
    STATS_AGGREGATES columns) and, from the orders placed on or before as_of, the first
    and last purchase day (days since 1970), purchase days, orders, spend, and the spend of the
    first purchase day. With a ``calibration_end`` (the backtest's), also the last purchase day
    and purchase days up to it and the purchase days after it, up to as_of (BACKTEST_COLUMNS).

    The orders are read once, sorted by customer: a window gives each order its customer's
    first purchase day, then one GROUP BY computes everything else.
    """
    qn = connection.ops.quote_name
    orders = qn(Order._meta.db_table)
    day = (
        "DATE(placed_at)"
        if connection.vendor == "sqlite"
        else "(placed_at AT TIME ZONE 'UTC')::date"
    )
    end = _day_end(as_of)
    counted = "FILTER (WHERE o.counted)"  # the orders placed up to as_of
    # Placed up to the backtest's calibration end (false without one).
    calibrated = "placed_at < %s" if calibration_end else "1 = 0"
    orders_sql = f"""
        SELECT customer_id, placed_at, total, item_count, {day} AS day,
               placed_at < %s AS counted, {calibrated} AS calibrated,
               MIN(CASE WHEN placed_at < %s THEN {day} END)
                   OVER (PARTITION BY customer_id) AS first_day
        FROM {orders}
        WHERE status = %s
    """
    columns = {
        "first_day": _epoch_day(f"MIN(o.day) {counted}"),
        "last_day": _epoch_day(f"MAX(o.day) {counted}"),
        "purchase_days": f"COUNT(DISTINCT o.day) {counted}",
        "orders": f"COUNT(*) {counted}",
        "spend": f"CAST(SUM(o.total) {counted} AS FLOAT)",
        "first_value": (
            f"CAST(SUM(CASE WHEN o.day = o.first_day THEN o.total ELSE 0 END) {counted} AS FLOAT)"
        ),
    }
    if calibration_end:
        columns.update(
            {
                "cal_last_day": _epoch_day("MAX(o.day) FILTER (WHERE o.calibrated)"),
                "cal_purchase_days": "COUNT(DISTINCT o.day) FILTER (WHERE o.calibrated)",
                "holdout_purchase_days": (
                    "COUNT(DISTINCT o.day) FILTER (WHERE o.counted AND NOT o.calibrated)"
                ),
            }
        )
    with transaction.atomic(), connection.cursor() as cursor:
        large_work_mem(cursor)
        if connection.vendor == "postgresql":
            # Reading ten million orders in customer order through an index visits the table's
            # pages at random (the table is in time order); one scan and a sort is several times
            # faster, but the planner's estimate of the two is close enough to pick the index.
            cursor.execute("SELECT set_config('enable_indexscan', 'off', true)")
            cursor.execute("SELECT set_config('enable_bitmapscan', 'off', true)")
        SUMMARY.create(
            orders_sql=orders_sql,
            params=[
                end,
                *([_day_end(calibration_end)] if calibration_end else []),
                end,
                Order.Status.DELIVERED.value,
            ],
            columns=columns,
        )


BACKTEST_COLUMNS = ("cal_last_day", "cal_purchase_days", "holdout_purchase_days")


def _day_end(day: date):
    """The first moment after ``day`` (UTC), as the database takes it."""
    return connection.ops.adapt_datetimefield_value(
        datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    )


def summaries_read(*, backtest: bool = False) -> dict[str, np.ndarray]:
    """SUMMARY's customers with a purchase up to the as-of date, as arrays by column (with the
    backtest's, when the summary has them)."""
    names = SUMMARY_COLUMNS + (BACKTEST_COLUMNS if backtest else ())
    rows = SUMMARY.rows(names, where="orders > 0")
    data = np.array(rows, dtype=float).reshape(-1, len(names))
    return {name: data[:, index] for index, name in enumerate(names)}


def stats_reconcile() -> int:
    """Compare the stored stats with SUMMARY, then recompute the customers that disagree
    from their orders as they are now: a customer whose order was delivered while the summary
    was being made disagrees with it but not with the orders, and is left alone. Returns how
    many customers had drifted and were corrected; their orders' stats_applied flags are brought
    in line with their status on the way. The flags of the other customers are left to the
    paths that change orders: aligning them here could catch an order between a direct save and
    its post_save receiver, and the order would then never be counted."""
    suspects = SUMMARY.drifted_customer_ids()
    return customer_stats_recompute(customer_ids=suspects)


def summaries_drop() -> None:
    SUMMARY.drop()


def customer_summaries(as_of: date) -> dict[str, np.ndarray]:
    """Per customer with a delivered order placed on or before as_of: first and last purchase
    day (days since 1970), purchase days, orders, spend, and the spend of the first day."""
    orders_summarise(as_of)
    try:
        return summaries_read()
    finally:
        summaries_drop()


# The fallback heuristic -----------------------------------------------------------------------


def heuristic_scores(x, t_x, T, orders, spend_total):
    """Used when the models cannot be trusted. A customer's usual gap between purchases is
    t_x / x (or the median gap of repeat buyers for one-time buyers, 90 days if there are none);
    they are probably still active while the days since their last purchase are small against it:
    p_alive = exp(-days_since / (3 x gap)). Expected orders in t days = p_alive x t / gap; the
    expected order value is the customer's own average."""
    repeat = x > 0
    gaps = np.where(repeat, t_x / np.maximum(x, 1), np.nan)
    typical = float(np.nanmedian(gaps)) if repeat.any() else 90.0
    gap = np.where(repeat, np.maximum(gaps, 1.0), max(typical, 1.0))
    days_since = T - t_x
    alive = np.exp(-days_since / (3.0 * gap))
    per_order = spend_total / np.maximum(orders, 1)
    return alive, alive * HORIZON_DAYS / gap, alive * CLV_DAYS / gap, per_order


# Writing --------------------------------------------------------------------------------------

SCORE_COLUMNS = (
    ("rfm_recency", "smallint"),
    ("rfm_frequency", "smallint"),
    ("rfm_monetary", "smallint"),
    ("rfm_segment", "varchar(30)"),
    ("churn_risk", "double precision"),
    ("p_alive", "double precision"),
    ("expected_orders_90d", "double precision"),
    ("predicted_clv", "numeric(14, 2)"),
)


def write_scores(ids, columns: dict[str, np.ndarray], scored_at: datetime) -> int:
    """Set-based: the scores into a temporary table, then one UPDATE ... FROM for the rows whose
    scores differ, and one UPDATE for customers without a purchase (Prospect). Returns rows
    rewritten."""
    qn = connection.ops.quote_name
    customers = qn(Customer._meta.db_table)
    names = [name for name, _ in SCORE_COLUMNS]
    rows = zip(
        (int(i) for i in ids),
        *(columns[name].tolist() for name in names),
        strict=True,
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS analytics_scores")
        definition = ", ".join(f"{name} {kind}" for name, kind in SCORE_COLUMNS)
        cursor.execute(f"CREATE TEMP TABLE analytics_scores (id bigint PRIMARY KEY, {definition})")
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY analytics_scores (id, {', '.join(names)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("ANALYZE analytics_scores")
        else:
            placeholders = ", ".join(["%s"] * (len(names) + 1))
            cursor.executemany(f"INSERT INTO analytics_scores VALUES ({placeholders})", list(rows))
        assignments = ", ".join(f"{name} = s.{name}" for name in names)
        differs = " OR ".join(f"{customers}.{name} IS DISTINCT FROM s.{name}" for name in names)
        cursor.execute(
            f"UPDATE {customers} SET {assignments}, analytics_at = %s FROM analytics_scores s "
            f"WHERE {customers}.id = s.id AND ({differs})",
            [scored_at],
        )
        rewritten = cursor.rowcount
        cursor.execute(
            f"UPDATE {customers} SET rfm_segment = %s, rfm_recency = NULL, rfm_frequency = NULL, "
            "rfm_monetary = NULL, churn_risk = NULL, p_alive = NULL, expected_orders_90d = NULL, "
            "predicted_clv = NULL, analytics_at = %s "
            f"WHERE NOT EXISTS (SELECT 1 FROM analytics_scores s WHERE s.id = {customers}.id) "
            "AND (rfm_segment IS DISTINCT FROM %s OR churn_risk IS NOT NULL "
            "OR rfm_recency IS NOT NULL OR predicted_clv IS NOT NULL)",
            [PROSPECT, scored_at, PROSPECT],
        )
        rewritten += cursor.rowcount
        score_table_rebuild()
        cursor.execute("DROP TABLE analytics_scores")
    return rewritten


# After the run --------------------------------------------------------------------------------


def analytics_upkeep(run: AnalyticsRun) -> float | None:
    """The nightly chain's second link: after a run that rewrote scores, refresh the planner
    statistics of the customer table and of the score copy and, outside a transaction, vacuum
    them, so that the morning's searches and counts plan on the new segments and read the
    visibility map instead of visiting every page. Autovacuum would get there, at a moment of
    its choosing. Then rebuilds the sales rollup (customers.sales) the dashboard's charts read.
    Records the seconds of both as the run's "upkeep" step and returns them; does nothing for a
    run that did not succeed."""
    if run.status != AnalyticsRun.Status.SUCCEEDED:
        return None
    started = time.perf_counter()
    vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
    with connection.cursor() as cursor:
        for model in (Customer, CustomerScore):
            table = connection.ops.quote_name(model._meta.db_table)
            cursor.execute(f"VACUUM (ANALYZE) {table}" if vacuum else f"ANALYZE {table}")
    sales_days_rebuild()  # the dashboard's charts read the days before today from it
    seconds = round(time.perf_counter() - started, 3)
    run.step_timings = {**run.step_timings, "upkeep": seconds}
    AnalyticsRun.objects.filter(pk=run.pk).update(step_timings=run.step_timings)
    analytics_run_finished.send(sender=AnalyticsRun, run=run)
    return seconds


# The run --------------------------------------------------------------------------------------


class _Steps:
    """Times each step and reports progress on the run's row as it goes: a heartbeat as each
    step starts and ends, in the same UPDATE."""

    def __init__(self, run: AnalyticsRun, total: int):
        self.run, self.total, self.done = run, total, 0

    def __call__(self, name: str):
        self.name = name
        self._beat(current_step=name)
        return self

    def __enter__(self):
        self.started = time.perf_counter()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.run.step_timings[self.name] = round(time.perf_counter() - self.started, 3)
            self.done += 1
            self.run.progress = round(100 * self.done / self.total)
            self._beat(step_timings=self.run.step_timings, progress=self.run.progress)

    def _beat(self, **fields) -> None:
        analytics_run_heartbeat(self.run, **fields)
        _lock_renew()


def analytics_run(
    *,
    as_of: date | None = None,
    model: str = DEFAULT_MODEL,
    run: AnalyticsRun | None = None,
    backtest_days: int | None = None,
) -> AnalyticsRun:
    """Score every customer as of a date (default today) and record the run: ``run``, a queued
    one, or a new one. Then backtest the model on the last ``backtest_days`` days
    (customers.analytics.backtest; default ``CRM_ANALYTICS_BACKTEST_DAYS``, 0 for none). Safe to
    run twice; two runs at once cannot interleave (the second is recorded as skipped and raises
    AnalyticsAlreadyRunning). A run that starts fails the runs whose worker died
    (analytics_run_abandoned) and says so on them."""
    if backtest_days is None:
        backtest_days = settings.CRM_ANALYTICS_BACKTEST_DAYS
    if backtest_days < 0:
        raise ValueError(f"backtest_days must be 0 or more, not {backtest_days}.")
    if run is None:
        run = analytics_run_create(as_of=as_of, model=model)
    as_of, model = as_of or run.as_of, run.model_name
    churn._check(model)
    if not _lock_acquire():
        message = "Another analytics run is in progress."
        # A running run's own message delivered twice is left alone: its worker holds the lock.
        if run.status == AnalyticsRun.Status.QUEUED:
            # It may have finished meanwhile (failed as abandoned by the run holding the lock).
            with contextlib.suppress(AnalyticsRunTransitionError):
                analytics_run_transition(run, to=AnalyticsRun.Status.SKIPPED, error=message)
        raise AnalyticsAlreadyRunning(message)
    try:
        analytics_runs_abandoned_fail(successor=run)
        analytics_run_transition(
            run,
            to=AnalyticsRun.Status.RUNNING,
            as_of=as_of,
            step_timings={},
            progress=0,
            error="",
            backtest={},
        )
    except Exception:
        _lock_release()
        raise
    started = time.perf_counter()
    try:
        _score(run, as_of, model, backtest_days, _Steps(run, total=7 if backtest_days else 6))
    except Exception as error:
        _finish(run, AnalyticsRun.Status.FAILED, error=f"{error.__class__.__name__}: {error}")
        raise
    finally:
        _lock_release()
    run.duration_seconds = round(time.perf_counter() - started, 3)
    _finish(run, AnalyticsRun.Status.SUCCEEDED)
    return run


# What the run keeps on the instance as it goes and writes when it finishes, either way.
RECORDED_FIELDS = (
    "customers_scored",
    "customers_with_orders",
    "parameters",
    "log_likelihood",
    "fallback_used",
    "fallback_reason",
    "drift_count",
    "segment_counts",
    "customer_totals",
    "step_timings",
    "backtest",
    "progress",
    "current_step",
    "duration_seconds",
)


def _finish(run: AnalyticsRun, status: str, error: str = "") -> None:
    fields = {name: getattr(run, name) for name in RECORDED_FIELDS}
    if status == AnalyticsRun.Status.SUCCEEDED:
        fields.update(progress=100, current_step="")
    analytics_run_transition(run, to=status, error=error, **fields)


def _record_counts(run: AnalyticsRun) -> None:
    """Only runs change segments, so the dashboard reads the counts the run leaves instead of
    counting a million customers again on every visit; the customer figures too, said on the
    dashboard to be as of the run."""
    run.customer_totals = customer_totals(Customer.objects.all())
    run.customers_scored = run.customer_totals["total"]  # every customer: the same read
    run.segment_counts = rfm_segment_tally()


def _score(run: AnalyticsRun, as_of: date, model: str, backtest_days: int, step: _Steps) -> None:
    calibration_end = backtest.calibration_end_of(as_of, backtest_days) if backtest_days else None
    try:
        with step("aggregate"):
            orders_summarise(as_of, calibration_end)
            data = summaries_read(backtest=bool(backtest_days))
        with step("reconcile"):
            run.drift_count = stats_reconcile()
    finally:
        summaries_drop()
    as_of_day = (as_of - date(1970, 1, 1)).days
    x = data["purchase_days"] - 1
    t_x = data["last_day"] - data["first_day"]
    T = as_of_day - data["first_day"]
    orders, spend_total = data["orders"], data["spend"]
    repeat_mean = np.where(x > 0, (spend_total - data["first_value"]) / np.maximum(x, 1), 0.0)
    run.customers_with_orders = len(x)

    def backtest_step() -> None:
        if backtest_days:
            with step("backtest"):
                try:
                    run.backtest = backtest.backtest(
                        model=model,
                        data=data,
                        as_of=as_of,
                        holdout_days=backtest_days,
                        minimum=settings.CRM_ANALYTICS_MIN_CUSTOMERS,
                        sample_size=settings.CRM_ANALYTICS_FIT_SAMPLE,
                    )
                except Exception as error:  # noqa: BLE001 - a check of the scores, not the scores
                    run.backtest = {
                        "holdout_days": backtest_days,
                        "skipped": f"The backtest failed ({error.__class__.__name__}: {error}).",
                    }

    if not len(x):
        backtest_step()
        with step("write"):
            write_scores([], {name: np.array([]) for name, _ in SCORE_COLUMNS}, timezone.now())
            _record_counts(run)
        run.fallback_used, run.fallback_reason = True, "No customer has a delivered order yet."
        return

    with step("rfm"):
        recency_days = as_of_day - data["last_day"]
        r, f, m = rfm.rfm_scores(recency_days, orders, spend_total)
        segment = rfm.segments(r, f)

    minimum = settings.CRM_ANALYTICS_MIN_CUSTOMERS
    sample_size = settings.CRM_ANALYTICS_FIT_SAMPLE
    rng = np.random.default_rng(seed=as_of_day)
    fallback = ""
    with step("churn"):
        if len(x) < minimum:
            fallback = f"Only {len(x)} customers with a purchase (the models need {minimum})."
        else:
            sample = rng.choice(len(x), size=min(sample_size, len(x)), replace=False)
            fitted = churn.fit(model, x[sample], t_x[sample], T[sample])
            if fitted.converged:
                run.parameters = {model: fitted.params}
                run.log_likelihood = fitted.log_likelihood
                alive = churn.p_alive(model, fitted.params, x, t_x, T)
                orders_90 = churn.expected_purchases(model, fitted.params, HORIZON_DAYS, x, t_x, T)
                orders_year = churn.expected_purchases(model, fitted.params, CLV_DAYS, x, t_x, T)
            else:
                fallback = f"The {model} fit did not converge ({fitted.message})."
        if fallback:
            alive, orders_90, orders_year, per_order = heuristic_scores(
                x, t_x, T, orders, spend_total
            )

    with step("spend"):
        if not fallback:
            usable = np.flatnonzero(spend.usable(x, repeat_mean))
            chosen = rng.choice(usable, size=min(sample_size, len(usable)), replace=False)
            spend_fit = spend.fit(x[chosen], repeat_mean[chosen])
            if spend_fit.converged:
                run.parameters["gamma_gamma"] = spend_fit.params
                per_order = spend.expected_spend(spend_fit.params, x, repeat_mean)
            else:
                # Spend model only: keep the churn model, use each customer's own average order.
                run.parameters["gamma_gamma"] = {"converged": False}
                per_order = spend_total / np.maximum(orders, 1)
        # Rounded to what staff see (whole percent, currency units), so a night that moves a
        # score by less than that leaves the row alone.
        clv = np.round(np.maximum(orders_year * per_order, 0), 0)

    backtest_step()

    with step("write"):
        alive = np.clip(alive, 0.0, 1.0)
        write_scores(
            data["customer_id"],
            {
                "rfm_recency": r,
                "rfm_frequency": f,
                "rfm_monetary": m,
                "rfm_segment": segment,
                "churn_risk": np.round(1.0 - alive, 2),
                "p_alive": np.round(alive, 2),
                "expected_orders_90d": np.round(orders_90, 2),
                "predicted_clv": clv,
            },
            scored_at=timezone.now(),
        )
        _record_counts(run)

    run.fallback_used = bool(fallback)
    run.fallback_reason = fallback
