"""A resource's export, streamed: rows are read from the database in chunks and written as they
come, so memory stays flat whatever the number of rows. CSV goes out as it is written; XLSX is
written row by row into a temporary file (openpyxl's write-only workbook), then sent from it."""

import csv
import tempfile
from collections.abc import Iterable, Iterator

import openpyxl
from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

from core.exports.cells import cell_text, xlsx_cell
from core.exports.copy import copy_csv

# Rows read from the database at a time (one query per chunk, plus one per prefetch).
EXPORT_CHUNK_SIZE = 2000


class Echo:
    """A file that hands back what is written to it, for csv.writer to produce lines."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """Each row as one line of CSV, every cell made safe by ``cell_text``."""
    writer = csv.writer(Echo())
    for row in rows:
        yield writer.writerow([cell_text(value) for value in row])


def related_paths(select_related) -> list[str]:
    """The ``select_related`` of a query (a nested dict) as the paths that would make it."""
    paths = []
    for name, below in (select_related or {}).items():
        paths.append(name)
        paths.extend(f"{name}__{path}" for path in related_paths(below))
    return paths


def queryset_with_related(resource, queryset: QuerySet) -> QuerySet:
    """The admin's rows (its filters, search and order) with the related rows the resource's own
    queryset loads, so an export reads them with each chunk, never once per row."""
    own = resource.get_queryset()
    if own.query.select_related is True:
        queryset = queryset.select_related()
    elif own.query.select_related:
        queryset = queryset.select_related(*related_paths(own.query.select_related))
    if own._prefetch_related_lookups:
        queryset = queryset.prefetch_related(*own._prefetch_related_lookups)
    return queryset


def resource_rows(resource, queryset: QuerySet, export_fields=None) -> Iterator[list]:
    """The heading, then one row per object of the queryset, read ``EXPORT_CHUNK_SIZE`` rows at a
    time (resource.iter_queryset). Numbers and dates come as values, not text, so a negative
    amount is written as a number (core.exports.cells)."""
    resource._meta.chunk_size = resource._meta.chunk_size or EXPORT_CHUNK_SIZE
    if not queryset._prefetch_related_lookups and not queryset.query.select_related:
        queryset = queryset_with_related(resource, queryset)
    resource.before_export(queryset, export_fields=export_fields)
    queryset = resource.filter_export(queryset, export_fields=export_fields)
    yield resource.get_export_headers(selected_fields=export_fields)
    for instance in resource.iter_queryset(queryset):
        yield resource.export_resource(
            instance, selected_fields=export_fields, force_native_type=True
        )


def resource_csv(resource, queryset: QuerySet, export_fields=None) -> Iterator[bytes | str]:
    """A resource's export as CSV: written by the database (``core.exports.copy``) where the
    resource offers the SELECT (``export_sql``), else row by row from ``resource_rows``."""
    made = resource.export_sql(queryset, export_fields) if hasattr(resource, "export_sql") else None
    if made is not None:
        sql, params, headers = made
        return copy_csv(sql, params, headers, using=queryset.db)
    return csv_lines(resource_rows(resource, queryset, export_fields))


def csv_streaming_response(
    rows: Iterable[Iterable], filename: str, *, lines: Iterable[bytes | str] | None = None
) -> StreamingHttpResponse:
    """Rows (or CSV ``lines`` already written) as a CSV download, written while they are read."""
    content = csv_lines(rows) if lines is None else lines
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=filename
    )
    return response


XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_file(rows: Iterable[Iterable]):
    """The rows as an XLSX workbook in a temporary file, written a row at a time."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    for row in rows:
        sheet.append([xlsx_cell(value) for value in row])
    # Closed by the response once sent (FileResponse), so not a context manager here.
    out = tempfile.TemporaryFile()  # noqa: SIM115
    workbook.save(out)
    out.seek(0)
    return out


def xlsx_response(rows: Iterable[Iterable], filename: str) -> FileResponse:
    """Rows as an XLSX download: written to a temporary file first (a workbook is a zip of
    parts, which cannot be sent before it is finished), then sent from it in blocks."""
    return FileResponse(
        xlsx_file(rows), as_attachment=True, filename=filename, content_type=XLSX_CONTENT_TYPE
    )
