"""What `make bench` measures: one section per family of budgets in DESIGN.md section 6.

A section has two halves. ``measure`` runs in a fresh process against one data set, so that the
process's peak memory (a high-water mark) belongs to that measurement alone. ``summarize`` looks
across the sizes afterwards: how the cost grows with the number of customers, and whether the
budgets hold at the reference size. Further sections (the list pages, the detail page, import,
export) join SECTIONS in the same shape, and the report gains one key per section.
"""

import datetime as dt
import itertools
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.db import DatabaseError, connection, transaction

from crm.bench.communications import measure_communications, summarize_communications
from crm.bench.dataset import DatasetSpec, peak_rss_mb
from crm.bench.import_export import measure_import_export, summarize_import_export
from crm.bench.pages import measure_pages, summarize_pages
from crm.bench.segments import measure_segments, summarize_segments
from customers.analytics.vocabulary import DEFAULT_MODEL
from customers.models import AnalyticsRun

# The budgets of DESIGN.md section 6 are set for this data set.
REFERENCE_CUSTOMERS = 1_000_000
REFERENCE_ORDERS = 10_000_000
# Cost "linear in customers": time grows at most like customers ** LINEAR_EXPONENT between the
# two largest sizes measured (some slack for noise; fixed costs push the exponent below 1).
LINEAR_EXPONENT = 1.15


@dataclass(frozen=True)
class Section:
    name: str
    description: str
    measure: Callable[[DatasetSpec], dict]
    summarize: Callable[[dict[int, dict]], dict]


def measure_analytics(spec: DatasetSpec) -> dict:
    """One night's analytics chain over the data set (the run, then the customer table's
    upkeep), timed from the outside and by its steps.

    A data set scored before is scored as of the day after its last run, as the next night would
    be: the scores of every customer who bought move with the date and are rewritten, whereas a
    rerun for the same date would find them unchanged and skip most of the writing."""
    try:
        from customers.analytics.run import analytics_run, analytics_upkeep
    except ImportError as error:
        return {"status": "unavailable", "error": f"customers.analytics.run: {error}"}
    last = (
        AnalyticsRun.objects.filter(status=AnalyticsRun.Status.SUCCEEDED)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )
    as_of = max(spec.as_of, last + dt.timedelta(days=1)) if last else spec.as_of
    baseline_mb = peak_rss_mb()
    temp_before = _temp_bytes()
    load = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        run = analytics_run(as_of=as_of, model=DEFAULT_MODEL)
        run_seconds = time.perf_counter() - started
        analytics_upkeep(run)
    except Exception as error:  # noqa: BLE001 - the report says what failed and moves on
        return {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "duration_seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mb": peak_rss_mb(),
        }
    seconds = time.perf_counter() - started
    temp_after = _temp_bytes()
    return {
        "status": run.status,
        "run_id": run.pk,
        "as_of": run.as_of.isoformat(),
        "model": run.model_name,
        "duration_seconds": round(seconds, 2),
        "run_call_seconds": round(run_seconds, 2),
        "run_duration_seconds": run.duration_seconds,
        "steps": run.step_timings,
        "customers_scored": run.customers_scored,
        "customers_with_orders": run.customers_with_orders,
        "customers_per_second": round(run.customers_scored / seconds) if seconds else None,
        "peak_rss_mb": peak_rss_mb(),
        "baseline_rss_mb": baseline_mb,
        "postgres_temp_mb": (
            round((temp_after - temp_before) / 2**20, 1)
            if temp_before is not None and temp_after is not None
            else None
        ),
        "drift_count": run.drift_count,
        "fallback_used": run.fallback_used,
        "fallback_reason": run.fallback_reason,
        "parameters": run.parameters,
        "log_likelihood": run.log_likelihood,
        "load_average_at_start": round(load, 2),
    }


def _temp_bytes() -> int | None:
    """Bytes this database has spilled to temporary files (sorts, hashes larger than work_mem)."""
    try:
        # This backend's counts reach the shared statistics after a statement ends, at most
        # once a second unless pushed; so push first, and read in a statement of its own.
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()"
            )
            return int(cursor.fetchone()[0])
    except DatabaseError:
        return None


def summarize_analytics(results: dict[int, dict]) -> dict:
    measured = {size: result for size, result in sorted(results.items()) if _succeeded(result)}
    growth = _growth(measured)
    reference = measured.get(REFERENCE_CUSTOMERS)
    largest = growth["pairs"][-1]["exponent"] if growth["pairs"] else None
    note = (
        "" if reference else f"The budgets hold at {REFERENCE_CUSTOMERS:,} customers, not measured."
    )
    return {
        "growth": growth,
        "budgets": {
            "analytics_full_run_seconds": _verdict(_worst(reference, "duration_seconds"), 90),
            "analytics_memory_mb": _verdict(_worst(reference, "peak_rss_mb"), 2048),
            "analytics_cost_linear": {
                "budget": f"time grows at most like customers ** {LINEAR_EXPONENT}",
                "measured": largest,
                "passed": None if largest is None else largest <= LINEAR_EXPONENT,
            },
        },
        "budgets_at": {"customers": REFERENCE_CUSTOMERS, "orders": REFERENCE_ORDERS},
        **({"note": note} if note else {}),
    }


def _worst(result: dict | None, key: str) -> float | None:
    """A budget holds for every run: with --repeat, the slowest (largest) of them is judged,
    such as the first night after a fresh load, not the median the report shows."""
    if not result:
        return None
    values = [run[key] for run in result.get("runs", [result]) if run.get(key) is not None]
    return max(values, default=None)


def _succeeded(result: dict) -> bool:
    return result.get("status") == "succeeded" and result.get("duration_seconds")


def _verdict(measured: float | None, budget: float) -> dict:
    return {
        "budget": budget,
        "measured": measured,
        "passed": None if measured is None else measured <= budget,
    }


def _growth(measured: dict[int, dict]) -> dict:
    """Cost per customer at each size, and how time grows from one size to the next: the
    exponent k in time ~ customers ** k (1 is linear)."""
    per_customer = {
        str(size): {
            "microseconds_per_customer": round(result["duration_seconds"] / size * 1e6, 1),
            "steps_microseconds_per_customer": {
                step: round(seconds / size * 1e6, 2)
                for step, seconds in result.get("steps", {}).items()
            },
        }
        for size, result in measured.items()
    }
    sizes = list(measured)
    pairs = []
    for small, large in itertools.pairwise(sizes):
        before, after = measured[small], measured[large]
        steps = before.get("steps", {})
        pairs.append(
            {
                "from": small,
                "to": large,
                "size_ratio": round(large / small, 2),
                "time_ratio": round(after["duration_seconds"] / before["duration_seconds"], 2),
                "exponent": _exponent(
                    before["duration_seconds"], after["duration_seconds"], small, large
                ),
                "step_exponents": {
                    step: _exponent(seconds, after.get("steps", {}).get(step), small, large)
                    for step, seconds in steps.items()
                },
            }
        )
    return {"per_customer": per_customer, "pairs": pairs}


def _exponent(before: float | None, after: float | None, small: int, large: int) -> float | None:
    if not before or not after or before <= 0 or after <= 0:
        return None
    return round(math.log(after / before) / math.log(large / small), 3)


SECTIONS: dict[str, Section] = {
    "analytics": Section(
        name="analytics",
        description=(
            "The nightly analytics run (customers.analytics.run.analytics_run, model "
            f"{DEFAULT_MODEL}): one pass over the orders, reconcile, RFM, churn and spend models, "
            "set-based write."
        ),
        measure=measure_analytics,
        summarize=summarize_analytics,
    ),
    "pages": Section(
        name="pages",
        description=(
            "The staff pages, the dashboard and the admin changelists (median of several "
            "requests after a warm-up, DEBUG off, with their query counts), and one order "
            "delivery and return with loyalty connected."
        ),
        measure=measure_pages,
        summarize=summarize_pages,
    ),
    "segments": Section(
        name="segments",
        description=(
            "Counting every segment (segments_refresh_all), and each pre-built segment's page "
            "with its members (median of several requests after a warm-up, DEBUG off, with "
            "their query counts)."
        ),
        measure=measure_segments,
        summarize=summarize_segments,
    ),
    "communications": Section(
        name="communications",
        description=(
            "A campaign to a tenth of the customers (100,000 at 1M): the start (recipient rows, "
            "exclusions, a 10% control group), the send through an email backend that accepts "
            "at once with one worker in-process (emails a second, peak memory), and the "
            "campaign's page (median of several requests after a warm-up, DEBUG off)."
        ),
        measure=measure_communications,
        summarize=summarize_communications,
    ),
    "import_export": Section(
        name="import_export",
        description=(
            "Every customer exported as CSV as the admin streams it (rows a second, peak "
            "memory), then 100,000 customers (a tenth at other sizes) created and updated "
            "from generated CSV files through CustomerResource in one transaction."
        ),
        measure=measure_import_export,
        summarize=summarize_import_export,
    ),
}
