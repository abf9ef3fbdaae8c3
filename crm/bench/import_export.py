"""The `import_export` section of `make bench`: every customer exported as CSV the way the
admin streams it, then customers created and updated from generated CSV files.

- **export**: every customer through ``core.exports.streaming.resource_csv``, as the admin's
  CSV export streams it (on PostgreSQL written by ``COPY``, each cell made formula-safe in the
  SELECT; the bytes passed to nowhere): rows a second and peak memory;
- **create**: a CSV of new customers (100,000 at the reference size, a tenth of the customers
  elsewhere) imported as the admin imports a file over the job threshold: an ``ImportJob`` run
  in this process (``core.jobs.services.import_job_run``: read a batch at a time, all in one
  transaction);
- **update**: the same file with every customer's last name changed, imported again.

The customers created are deleted afterwards, so the data set is left as it was.
"""

import gc
import time

from crm.bench.dataset import (
    DatasetSpec,
    memory_mb,
    memory_peak_reset,
    peak_rss_mb,
    vacuum_analyze,
)

EXPORT_ROWS_PER_SECOND = 50_000
IMPORT_CREATE_ROWS_PER_SECOND = 10_000
IMPORT_UPDATE_ROWS_PER_SECOND = 2_000
IMPORT_ROWS = 100_000  # at the reference size; a tenth of the customers at other sizes
EXTERNAL_ID_PREFIX = "bench-import-"
BENCH_FILE_NAME = "bench-import.csv"


def measure_export() -> dict:
    from core.exports.streaming import resource_csv
    from customers.models import Customer
    from customers.resources import CustomerResource

    started = time.perf_counter()
    rows = 0
    for block in resource_csv(CustomerResource(), Customer.objects.order_by("pk")):
        rows += block.count(b"\n") if isinstance(block, bytes) else block.count("\n")
    seconds = time.perf_counter() - started
    rows -= 1  # the heading
    return {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else None,
        "peak_rss_mb": peak_rss_mb(),
    }


# Phones the data set never has (its own are 555-0100 to 555-0199), unique up to 108,000 rows:
# a row must not find a customer of the data set by phone, nor repeat an earlier row's.
IMPORT_AREA_CODES = (415, 212, 312, 617, 303, 512, 206, 305, 404, 702, 718, 213)


def import_phone(n: int) -> str:
    area = IMPORT_AREA_CODES[n // 9000 % len(IMPORT_AREA_CODES)]
    return f"+1{area}555{1000 + n % 9000:04d}"


def import_file(count: int, last_name: str) -> bytes:
    lines = ["external_id,first_name,last_name,email,phone,tags"]
    lines += [
        f"{EXTERNAL_ID_PREFIX}{n},Bench,{last_name},bench.import.{n}@example.com,"
        f"{import_phone(n)},bench"
        for n in range(count)
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def measure_import(count: int, last_name: str) -> dict:
    from core.jobs.services import import_job_run
    from core.models import ImportJob

    # As the admin hands a file over the job threshold to a worker: an ImportJob with the file,
    # run here, in the measuring process (its memory is the report's).
    job = ImportJob.objects.create(
        file_name=BENCH_FILE_NAME,
        data=import_file(count, last_name),
        resource="customers.resources.CustomerResource",
    )
    # The job's own memory: what making the file and its row took is not the import's.
    gc.collect()
    memory_peak_reset()
    before = memory_mb()
    started = time.perf_counter()
    job = import_job_run(job_id=job.pk)
    seconds = time.perf_counter() - started
    after = memory_mb()
    return {
        "rows": count,
        "seconds": round(seconds, 2),
        "rows_per_second": round(count / seconds) if seconds else None,
        "totals": {"new": job.rows_new, "update": job.rows_updated, "skip": job.rows_unchanged},
        "errors": job.error_count,
        "status": job.status,
        "memory_mb": None if before is None else {"before": before["now"], "peak": after["peak"]},
        "peak_rss_mb": peak_rss_mb(),
    }


def imported_remove() -> None:
    """Delete the customers the measurement created, with their tags, in plain DELETEs (the
    ORM's cascade would look for their orders, loyalty accounts and the rest among ten million
    rows: minutes, and they have none), then vacuum the two tables."""
    from django.db import connection, transaction

    from core.models import ImportJob
    from customers.models import Customer, CustomerTag

    customers = connection.ops.quote_name(Customer._meta.db_table)
    tags = connection.ops.quote_name(CustomerTag._meta.db_table)
    chosen = f"SELECT id FROM {customers} WHERE external_id LIKE %s"
    pattern = EXTERNAL_ID_PREFIX + "%"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {tags} WHERE customer_id IN ({chosen})", [pattern])
        cursor.execute(f"DELETE FROM {customers} WHERE id IN ({chosen})", [pattern])
        ImportJob.objects.filter(file_name=BENCH_FILE_NAME).delete()
    vacuum_analyze([Customer._meta.db_table, CustomerTag._meta.db_table])


def measure_import_export(spec: DatasetSpec) -> dict:
    from django.test.utils import override_settings

    started = time.perf_counter()
    # As a worker runs: DEBUG off, so no query is kept in the connection's log.
    with override_settings(DEBUG=False):
        export = measure_export()
        count = min(IMPORT_ROWS, max(1, spec.customers // 10))
        imported_remove()  # and the dead rows an earlier run left
        try:
            create = measure_import(count, "Created")
            update = measure_import(count, "Updated")
        finally:
            imported_remove()
    return {
        "status": "succeeded",
        "duration_seconds": round(time.perf_counter() - started, 2),
        "export": export,
        "import_create": create,
        "import_update": update,
        "peak_rss_mb": peak_rss_mb(),
    }


def _rate(measured: dict | None, budget: int) -> dict:
    value = (measured or {}).get("rows_per_second")
    passed = None if value is None else value >= budget and not (measured or {}).get("errors")
    return {"budget": budget, "measured": value, "passed": passed}


def summarize_import_export(results: dict[int, dict]) -> dict:
    from crm.bench.sections import REFERENCE_CUSTOMERS

    reference = results.get(REFERENCE_CUSTOMERS) or {}
    if reference.get("status") != "succeeded":
        return {"budgets": {}, "note": "Measured only at the reference size."}
    return {
        "budgets": {
            "export_rows_per_second": _rate(reference["export"], EXPORT_ROWS_PER_SECOND),
            "import_create_rows_per_second": _rate(
                reference["import_create"], IMPORT_CREATE_ROWS_PER_SECOND
            ),
            "import_update_rows_per_second": _rate(
                reference["import_update"], IMPORT_UPDATE_ROWS_PER_SECOND
            ),
        },
        "memory": {
            "export_peak_rss_mb": reference["export"]["peak_rss_mb"],
            "import_create_mb": reference["import_create"].get("memory_mb"),
            "import_update_mb": reference["import_update"].get("memory_mb"),
            "peak_rss_mb": reference["peak_rss_mb"],
        },
    }
