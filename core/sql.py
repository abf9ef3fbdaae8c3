"""Pieces for the few set-based statements the ORM cannot write (INSERT … SELECT … ON CONFLICT,
DELETE … RETURNING), so each stays one statement whatever the number of rows."""

import time
from contextlib import contextmanager

from django.db import connection, models
from django.db.models import F, QuerySet


def ids_select(queryset: QuerySet) -> tuple[str, tuple]:
    """The SELECT of the queryset's primary keys, as a column named ``chosen_id``, with its
    parameters: to nest as ``(…) chosen`` or in ``IN (…)``."""
    return queryset.order_by().values(chosen_id=F("pk")).query.sql_with_params()


def columns(model: type[models.Model], *names: str) -> str:
    """The quoted columns of the model's fields, comma-separated."""
    quote = connection.ops.quote_name
    return ", ".join(quote(model._meta.get_field(name).column) for name in names)


def table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def now_value():
    """The current time as the database takes it as a parameter of raw SQL."""
    from django.utils import timezone

    return connection.ops.adapt_datetimefield_value(timezone.now())


def insert_for_each(
    *,
    model: type[models.Model],
    field: str,
    queryset: QuerySet,
    values: dict,
    unique: tuple[str, ...],
) -> int:
    """One row of ``model`` for each row of ``queryset``, in one INSERT … SELECT: ``field``
    takes the row's primary key, the other fields the constant ``values``. A row that would
    break the unique ``unique`` fields is left out (ON CONFLICT DO NOTHING), so running it again
    adds nothing. Returns how many rows were inserted."""
    select, params = ids_select(queryset)
    names = list(values)
    placeholders = ", ".join(["%s"] * len(names))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table(model)} ({columns(model, field, *names)}) "
            f"SELECT chosen.chosen_id, {placeholders} FROM ({select}) chosen WHERE true "
            f"ON CONFLICT ({columns(model, *unique)}) DO NOTHING",
            (*(_adapted(model, name, values[name]) for name in names), *params),
        )
        return cursor.rowcount


def _adapted(model: type[models.Model], name: str, value):
    """A value as the database takes it for the field (a model instance as its key, a
    date-time adapted as Django adapts it)."""
    if isinstance(value, models.Model):
        return value.pk
    return model._meta.get_field(name).get_db_prep_value(value, connection)


def statistics_refresh() -> None:
    """Have PostgreSQL read its statistics of every table again (ANALYZE), after bulk writes
    that changed their size by orders of magnitude: planned for the empty tables it saw last,
    a query over thousands of rows can take minutes. Nothing to do on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


@models.Field.register_lookup
class InArray(models.Lookup):
    """``field__in_array=values``: ``IN`` for values already in the column's stored form (text
    as stored, E.164 phone numbers, keys), sent to PostgreSQL as one array parameter
    (``= ANY(%s)``). Django's ``__in`` prepares each value through the field and writes a
    placeholder for each: for the thousands of keys of an import batch, milliseconds of Python
    per query. Elsewhere it is an ordinary ``IN``."""

    lookup_name = "in_array"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        values = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s)", [*lhs_params, values]
        if not values:
            return "1 = 0", list(lhs_params)
        return f"{lhs} IN ({', '.join(['%s'] * len(values))})", [*lhs_params, *values]


models.ForeignObject.register_lookup(InArray)


@contextmanager
def logged(on, sql: str):
    """Record a statement run beside Django's cursor wrapper (``COPY``) in the connection's
    query log as a debug cursor would, so query counts and the debug log see it."""
    started = time.monotonic()
    try:
        yield
    finally:
        if on.queries_logged:
            on.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
