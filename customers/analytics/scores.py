"""The searchable copy of the scores (customers.models.CustomerScore), rebuilt by each run
from the scores it has just written onto the customers.

The run writes every score onto the customer rows as heap-only updates, which only stay cheap
while no index covers a score column. The pages that filter and sort by segment, churn risk and
value read this narrow, indexed copy instead. Rebuilding it whole costs the same every night
(about 4 s at a million customers) where updating its rows in place cost twice that, and its
indexes are built once over sorted data rather than maintained row by row.

On PostgreSQL the new rows go into a fresh table that gets the live table's indexes (read from
the catalogue, so they are whatever the migrations made) and then takes its place, all in the
run's write transaction: readers see the old copy until the commit and wait only for the swap
itself. Elsewhere (SQLite in development and tests) the rows are replaced in place.
"""

import re

from django.db import connection, transaction

from customers.models import Customer, CustomerScore

COLUMNS = ("customer_id", "rfm_segment", "churn_risk", "predicted_clv", "value_at_stake")
INDEX_DEFINITION = re.compile(r"^(CREATE (?:UNIQUE )?INDEX) \S+ ON \S+ (USING .+)$")


def scores_select() -> str:
    """The copy's rows: the customers with a segment and both scores, which after a run are
    those it scored from their purchases."""
    qn = connection.ops.quote_name
    return (
        "SELECT id, rfm_segment, churn_risk, predicted_clv, "
        "ROUND(CAST(churn_risk AS NUMERIC) * predicted_clv, 2) "
        f"FROM {qn(Customer._meta.db_table)} "
        "WHERE churn_risk IS NOT NULL AND predicted_clv IS NOT NULL "
        f"AND rfm_segment NOT IN ('', '{Customer.RfmSegment.PROSPECT.value}')"
    )


def score_table_rebuild() -> None:
    """Replace the copy with the scores on the customers. The run calls it in the transaction
    that writes them; call it after writing scores onto customers any other way."""
    qn = connection.ops.quote_name
    table = CustomerScore._meta.db_table
    columns = ", ".join(COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            _swap_in(cursor, table, columns)
        else:
            cursor.execute(f"DELETE FROM {qn(table)}")
            cursor.execute(f"INSERT INTO {qn(table)} ({columns}) {scores_select()}")


def _swap_in(cursor, table: str, columns: str) -> None:
    """Build the rows and the live table's indexes in a fresh table, then put it in place."""
    qn = connection.ops.quote_name
    fresh = f"{table}_next"
    cursor.execute(
        "SELECT ix.relname, pg_get_indexdef(info.indexrelid), info.indisprimary "
        "FROM pg_index info JOIN pg_class ix ON ix.oid = info.indexrelid "
        "WHERE info.indrelid = %s::regclass ORDER BY ix.relname",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute("SELECT set_config('maintenance_work_mem', '256MB', true)")
    cursor.execute(f"DROP TABLE IF EXISTS {qn(fresh)}")
    cursor.execute(
        f"CREATE TABLE {qn(fresh)} (LIKE {qn(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
    )
    cursor.execute(f"INSERT INTO {qn(fresh)} ({columns}) {scores_select()} ORDER BY id")
    renames = []
    for name, definition, primary in indexes:
        match = INDEX_DEFINITION.match(definition)
        if match is None:
            raise ValueError(f"Unexpected index definition: {definition}")
        temporary = f"{name[:58]}_next"
        cursor.execute(f"{match[1]} {qn(temporary)} ON {qn(fresh)} {match[2]}")
        if primary:
            cursor.execute(
                f"ALTER TABLE {qn(fresh)} ADD CONSTRAINT {qn(temporary)} "
                f"PRIMARY KEY USING INDEX {qn(temporary)}"
            )
            renames.append(
                f"ALTER TABLE {qn(table)} RENAME CONSTRAINT {qn(temporary)} TO {qn(name)}"
            )
        else:
            renames.append(f"ALTER INDEX {qn(temporary)} RENAME TO {qn(name)}")
    cursor.execute(f"ANALYZE {qn(fresh)}")
    cursor.execute(f"DROP TABLE {qn(table)}")
    cursor.execute(f"ALTER TABLE {qn(fresh)} RENAME TO {qn(table)}")
    for statement in renames:
        cursor.execute(statement)
