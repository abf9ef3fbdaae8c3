"""Import jobs: a file too big to import while the browser waits is kept in an ImportJob row and
imported by a Celery worker, in batches inside one transaction, so the import is all or nothing.

Progress (rows done) is published to the cache after each batch, where the admin's progress
bar reads it: the job's own row changes only at the start and the end, because the batches'
transaction is not visible to other connections until it commits. A worker that dies mid-job
leaves nothing behind (the transaction never commits); the job stays running, Celery hands the
task to another worker (acks_late), and the run starts again from the first row."""

import tempfile
import typing

import tablib
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.db.models.functions import Length, Substr
from django.utils import timezone
from django.utils.module_loading import import_string
from import_export.formats import base_formats
from import_export.resources import Resource

from core.imports.reading import ImportFileError, csv_records, read_csv
from core.imports.setbased import SetBasedImportMixin
from core.models import ImportJob

# Errors kept on the job (the count says how many there were in all).
ERRORS_KEPT = 1000
FORMATS = {"csv": base_formats.CSV, "xlsx": base_formats.XLSX, "tsv": base_formats.TSV}


class ImportJobError(Exception):
    """The job cannot run as asked (an unknown resource or format)."""


class _RowsRefused(Exception):
    """Some rows were refused: roll the whole import back."""


def import_job_wanted(*, rows: int, asked: bool = False) -> bool:
    """Whether an import of ``rows`` rows runs as a job: when the user asks, or when the file
    has more rows than CRM_IMPORT_JOB_THRESHOLD."""
    return asked or rows > settings.CRM_IMPORT_JOB_THRESHOLD


def resource_class(path: str) -> type[Resource]:
    try:
        found = import_string(path)
    except ImportError as error:
        raise ImportJobError(f"Unknown resource {path!r}.") from error
    if not (isinstance(found, type) and issubclass(found, Resource)):
        raise ImportJobError(f"{path!r} is not an import resource.")
    return found


def import_job_create(
    *,
    user,
    file_name: str,
    data: bytes,
    resource: str,
    input_format: str = "csv",
    encoding: str = "utf-8-sig",
) -> ImportJob:
    """Keep the file and queue its import; the task starts once this transaction commits."""
    from core.jobs.tasks import import_job_run_task

    resource_class(resource)
    if input_format not in FORMATS:
        raise ImportJobError(f"Unknown file format {input_format!r}.")
    job = ImportJob.objects.create(
        created_by=user,
        file_name=file_name[:255],
        data=data,
        resource=resource,
        input_format=input_format,
        encoding=encoding,
    )
    import_job_run_task.delay_on_commit(job.pk)
    return job


def progress_key(job_id: int) -> str:
    return f"crm:import-job:{job_id}:rows-done"


def import_job_progress(job: ImportJob) -> int:
    """Rows done so far: the running batch's count from the cache, else the row's own."""
    if job.finished:
        return job.rows_done
    return max(job.rows_done, cache.get(progress_key(job.pk)) or 0)


def dataset_load(job: ImportJob) -> tablib.Dataset:
    """The job's whole file as a dataset: a CSV file read as an upload is (its encoding, its
    delimiter sniffed: ``core.imports.reading``), another by its format."""
    if job.input_format == "csv":
        with job_file(job) as spool:
            return read_csv(spool, job.encoding)
    file_format = FORMATS[job.input_format]()
    data = bytes(job.data)
    if not file_format.is_binary():
        data = data.decode(job.encoding)
    return file_format.create_dataset(data)


def _result_errors(result, offset: int) -> list[dict]:
    """The errors of one batch's result, each naming its row in the file as a spreadsheet shows
    it (the heading is row 1), its column where known, and the problem."""
    offset += 1
    found = [
        {"row": None, "column": "", "message": str(error.error)} for error in result.base_errors
    ]
    for invalid in result.invalid_rows:
        for column, messages in invalid.field_specific_errors.items():
            found += [
                {"row": offset + invalid.number, "column": column, "message": str(message)}
                for message in messages
            ]
        found += [
            {"row": offset + invalid.number, "column": "", "message": str(message)}
            for message in invalid.non_field_specific_errors
        ]
    for number, errors in result.row_errors():
        found += [
            {"row": offset + number, "column": "", "message": str(error.error)} for error in errors
        ]
    return found


def _claim(job_id: int) -> ImportJob | None:
    """Mark the job running (again, after a worker died) unless it has finished."""
    now = timezone.now()
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().defer("data").filter(pk=job_id).first()
        if job is None or job.finished:
            return None
        job.status = ImportJob.Status.RUNNING
        job.started_at = now
        job.heartbeat_at = now
        job.attempts += 1
        job.rows_done = 0
        job.save(update_fields=["status", "started_at", "heartbeat_at", "attempts", "rows_done"])
    return job


def _finish(job: ImportJob, *, status: str, **fields) -> None:
    job.status = status
    job.finished_at = timezone.now()
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=["status", "finished_at", *fields])
    cache.delete(progress_key(job.pk))


class _Tally:
    """What a job's batches did, as they report it: rows done, the counts, the errors (the
    first ERRORS_KEPT kept) and their number. Publishes the rows done to the cache."""

    def __init__(self, job: ImportJob):
        self.job = job
        self.done = 0
        self.totals = {"new": 0, "update": 0, "skip": 0}
        self.errors: list[dict] = []
        self.error_count = 0

    def batch(self, done: int, result, offset: int = 0) -> None:
        """A batch's result (its rows numbered from ``offset`` + 1), ``done`` rows in all."""
        found = _result_errors(result, offset)
        self.error_count += len(found)
        self.errors += found[: ERRORS_KEPT - len(self.errors)]
        for kind in self.totals:
            self.totals[kind] += result.totals.get(kind, 0)
        self.done = done
        cache.set(progress_key(self.job.pk), done, timeout=24 * 60 * 60)


def import_job_run(*, job_id: int) -> ImportJob | None:
    """Import the job's file, ``CRM_IMPORT_JOB_BATCH`` rows at a time, all batches in one
    transaction. Any refused row or error rolls everything back and fails the job with the
    errors; nothing is written. Safe to run twice: a finished job is left as it is, a job left
    running by a dead worker starts again from its first row. Returns the job, or None when
    there was nothing to do.

    A CSV file into a set-based resource (customers: core/imports/setbased.py) is read as it is
    imported, in one ``import_rows`` call: memory stays that of a batch (the file's bytes
    aside), and a row repeating one thousands of rows earlier is still named. Other files are
    read whole and imported a batch at a time through the library."""
    job = _claim(job_id)
    if job is None:
        return None
    try:
        resource = resource_class(job.resource)()
        if isinstance(resource, SetBasedImportMixin):
            import_all = _streamed(job, resource)
        else:
            import_all = _batched(job, resource)
    except Exception as error:  # noqa: BLE001 - any unreadable file fails the job with why
        _finish(job, status=ImportJob.Status.FAILED, error=f"The file cannot be read: {error}")
        return job
    job.save(update_fields=["rows_total"])
    tally = _Tally(job)
    try:
        with transaction.atomic():
            import_all(tally)
            if tally.error_count:
                raise _RowsRefused
    except _RowsRefused:
        _finish(
            job,
            status=ImportJob.Status.FAILED,
            rows_done=0,
            errors=tally.errors,
            error_count=tally.error_count,
            error=f"{tally.error_count} error(s): nothing was imported.",
        )
        return job
    except Exception as error:  # noqa: BLE001 - rolled back; the job says why
        _finish(
            job,
            status=ImportJob.Status.FAILED,
            rows_done=0,
            errors=tally.errors,
            error_count=max(tally.error_count, 1),
            error=f"Stopped after {tally.done:,} rows, nothing was imported: {error}",
        )
        return job
    _finish(
        job,
        status=ImportJob.Status.SUCCEEDED,
        rows_done=tally.done,
        rows_new=tally.totals["new"],
        rows_updated=tally.totals["update"],
        rows_unchanged=tally.totals["skip"],
        error="",
    )
    return job


def _batched(job: ImportJob, resource):
    """The whole file read, then imported CRM_IMPORT_JOB_BATCH rows an ``import_data`` call."""
    dataset = dataset_load(job)
    job.rows_total = len(dataset)
    batch_size = settings.CRM_IMPORT_JOB_BATCH

    def import_all(tally: _Tally) -> None:
        for start in range(0, len(dataset), batch_size):
            batch = tablib.Dataset(*dataset[start : start + batch_size], headers=dataset.headers)
            result = resource.import_data(
                batch, dry_run=False, raise_errors=False, use_transactions=False
            )
            tally.batch(start + len(batch), result, offset=start)

    return import_all


def _streamed(job: ImportJob, resource):
    """The file imported by the resource's ``import_rows`` in one call: a CSV file copied to a
    temporary file (``job_file``) and read from there a batch at a time as it is imported,
    another read whole first."""
    spool = records = None
    try:
        if job.input_format == "csv":
            spool = job_file(job)
            job.rows_total = sum(1 for _ in csv_records(spool, job.encoding)) - 1
            records = csv_records(spool, job.encoding)
            headers = next(records)
        else:
            dataset = dataset_load(job)
            job.rows_total, headers, records = len(dataset), dataset.headers, iter(dataset)
        if not job.rows_total:
            raise ImportFileError("The file has a header row but no data rows.")
    except BaseException:
        if records is not None:
            records.close()
        if spool is not None:
            spool.close()
        raise
    resource._meta.batch_size = settings.CRM_IMPORT_JOB_BATCH

    def import_all(tally: _Tally) -> None:
        try:
            result = resource.import_rows(
                headers, records, total=job.rows_total, user=job.created_by, on_batch=tally.batch
            )
        finally:
            if spool is not None:
                records.close()
                spool.close()
        # Errors of the file as a whole, or of a batch's statements, belong to no row.
        for error in result.base_errors:
            tally.errors.insert(0, {"row": None, "column": "", "message": str(error.error)})
            tally.error_count += 1
        del tally.errors[ERRORS_KEPT:]

    return import_all


# Bytes of a job's file read from its row at a time.
FILE_CHUNK = 8 << 20


def job_file(job: ImportJob) -> typing.BinaryIO:
    """The job's file, copied from its row to a temporary file FILE_CHUNK bytes at a time, so
    memory stays flat in the file's size (the whole value would be held twice while read: as
    the database sends it, and as bytes)."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it
    try:
        rows = ImportJob.objects.filter(pk=job.pk)
        size = rows.annotate(size=Length("data")).values_list("size", flat=True).get() or 0
        for start in range(1, size + 1, FILE_CHUNK):  # SQL counts from 1
            piece = Substr("data", start, FILE_CHUNK, output_field=models.BinaryField())
            spool.write(rows.annotate(piece=piece).values_list("piece", flat=True).get())
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def import_job_retry(*, job: ImportJob) -> bool:
    """Queue a failed job again (after the file's data or the resource was fixed). Returns
    whether it was queued."""
    from core.jobs.tasks import import_job_run_task

    changed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.FAILED).update(
        status=ImportJob.Status.QUEUED,
        errors=[],
        error="",
        error_count=0,
        rows_done=0,
        finished_at=None,
    )
    if changed:
        import_job_run_task.delay_on_commit(job.pk)
    return bool(changed)
