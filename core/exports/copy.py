"""A CSV export written by PostgreSQL itself (``COPY (SELECT …) TO STDOUT``), for the resources
whose whole table is exported (customers: a million rows). The resource path builds a model
instance and renders every cell in Python, some 2,000 rows a second; here the database writes
the CSV and Python only passes the bytes on.

The SELECT writes each cell as the resource path would (``core.exports.cells``): text that a
spreadsheet would run as a formula gets a leading quote (``safe_sql``), booleans are True and
False, dates ISO, numbers numbers. Blanks are written as NULL, which COPY leaves unquoted, as
Python's csv module does. Lines end in a newline, not CRLF; every import reads both.

A resource offers it with ``export_sql(queryset, export_fields)``, returning the SELECT, its
parameters and its headings, or None where it cannot (another database, a column it has no SQL
for); the caller then uses the resource path (``core.exports.streaming.resource_rows``).
"""

import csv
import io
from collections.abc import Iterator

from django.core.exceptions import FieldDoesNotExist
from django.db import connections, models
from psycopg import ClientCursor

from core.exports.cells import FORMULA_STARTS
from core.sql import logged

# How much of COPY's output is handed on at a time.
COPY_BUFFER_BYTES = 256 * 1024

TEXT_FIELDS = (models.CharField, models.TextField)


def safe_sql(expression: str) -> str:
    """SQL for the text of ``expression`` as ``cell_safe`` writes it (a leading quote before
    =, +, -, @, tab or carriage return), blank as NULL."""
    starts = ", ".join(
        f"'{start}'" if start.isprintable() else f"chr({ord(start)})" for start in FORMULA_STARTS
    )
    value = f"({expression})"
    return (
        f"NULLIF(CASE WHEN left({value}, 1) IN ({starts}) "
        f"THEN '''' || {value} ELSE {value} END, '')"
    )


def field_sql(field: models.Field, alias: str, quote) -> str | None:
    """SQL for a model field's cell, or None when the export has no rule for its type."""
    column = f"{alias}.{quote(field.column)}"
    if isinstance(field, models.BooleanField):
        return f"CASE WHEN {column} THEN 'True' WHEN NOT {column} THEN 'False' END"
    if isinstance(field, TEXT_FIELDS):  # phone numbers too: stored as E.164 text
        return safe_sql(f"{column}::text")
    if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        return f"to_char({column}, 'YYYY-MM-DD')"
    if isinstance(field, models.IntegerField | models.DecimalField):
        return f"{column}::text"
    return None


def order_sql(queryset, alias: str, quote) -> str:
    """The queryset's order (the list's sort, else the model's default) as SQL over the table
    aliased ``alias``, the key last so that ties keep one order; the key alone when the order
    names anything but the model's own columns (a related field, an expression)."""
    meta = queryset.model._meta
    key = f"{alias}.{quote(meta.pk.column)}"
    query = queryset.query
    names = query.order_by or (meta.ordering if query.default_ordering else ())
    terms = []
    for name in names:
        if not isinstance(name, str):
            return key
        field_name = name.lstrip("-")
        try:
            field = meta.pk if field_name == "pk" else meta.get_field(field_name)
        except FieldDoesNotExist:
            return key
        if not field.concrete or field.is_relation:
            return key
        terms.append(f"{alias}.{quote(field.column)}{' DESC' if name.startswith('-') else ''}")
    return ", ".join([*terms, key])


def header_line(headers: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(headers)
    return out.getvalue().encode()


def copy_csv(sql: str, params, headers: list[str], using: str = "default") -> Iterator[bytes]:
    """The heading, then the rows of ``sql`` as CSV written by PostgreSQL, in blocks of about
    ``COPY_BUFFER_BYTES``."""
    yield header_line(headers)
    connection = connections[using]
    with connection.cursor() as cursor:
        # COPY takes no bound parameters: they are written into the statement, quoted.
        statement = sql
        if params:
            with ClientCursor(connection.connection) as quoting:
                statement = quoting.mogrify(sql, params)
        buffer = bytearray()
        copy = f"COPY ({statement}) TO STDOUT (FORMAT csv)"
        with (
            connection.wrap_database_errors,
            logged(connection, copy),
            cursor.cursor.copy(copy) as out,
        ):
            for block in out:
                buffer += block
                if len(buffer) >= COPY_BUFFER_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
        if buffer:
            yield bytes(buffer)
