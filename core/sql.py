"""Pieces for the few set-based statements the ORM cannot write (INSERT … SELECT … ON CONFLICT,
DELETE … RETURNING), so each stays one statement whatever the number of rows."""

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
