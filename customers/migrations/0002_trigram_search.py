"""Trigram GIN indexes for the customer search box, on PostgreSQL only (a no-op on SQLite).

Django's icontains compiles to UPPER(column::text) LIKE UPPER(%s) on PostgreSQL, so the indexes
are built on that same expression and serve the ORM's lookups without any special query.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

SEARCH_COLUMNS = ("first_name", "last_name", "email", "phone", "external_id")


def index_name(column):
    return f"customer_{column}_trgm_idx"


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {index_name(column)} ON customers_customer "
            f"USING gin ((UPPER(({column})::text)) gin_trgm_ops)"
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in SEARCH_COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {index_name(column)}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(create_indexes, drop_indexes),
    ]
