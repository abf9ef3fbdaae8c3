"""The set-based import's pieces: COPY's text format, the collector paused while it runs."""

import datetime
import gc
import itertools
import json
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from psycopg.types.json import Jsonb

from core.imports.setbased import TouchedRecords, copy_text, read_ahead
from customers.resources import CustomerResource

TEXTS = [
    "plain",
    "",
    "a\ttab",
    "a\nnewline",
    "a\r\ncarriage return",
    "back\\slash",
    "\\N",  # the text, not NULL
    "ünïcödé ✓",
]


@pytest.mark.postgres
@pytest.mark.django_db
def test_copy_text_writes_what_postgresql_reads_back():
    aware = datetime.datetime(2024, 3, 31, 23, 59, 58, 123456, tzinfo=datetime.UTC)
    columns = (
        "t text, n text, b boolean, i bigint, d numeric, day date, at timestamptz, "
        "clock time, j jsonb, u uuid"
    )
    rows = [
        (
            text,
            None,
            number % 2 == 0,
            -(10**12) + number,
            Decimal("-1234.50"),
            datetime.date(2024, 2, 29),
            aware,
            datetime.time(7, 5, 3),
            Jsonb({"note": text, "n": [1, 2.5, None, True]}),
            uuid.UUID(int=number),
        )
        for number, text in enumerate(TEXTS)
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TEMPORARY TABLE copied (number int, {columns})")
        lines = "".join(
            "\t".join([str(number), *map(copy_text, row)]) + "\n" for number, row in enumerate(rows)
        )
        with cursor.cursor.copy(
            "COPY copied (number, t, n, b, i, d, day, at, clock, j, u) FROM STDIN"
        ) as copy:
            copy.write(lines)
        cursor.execute("SELECT t, n, b, i, d, day, at, clock, j, u FROM copied ORDER BY number")
        read = cursor.fetchall()

    # Django reads jsonb as its text, for JSONField to decode.
    assert [(*row[:8], json.loads(row[8]), row[9]) for row in read] == [
        (*row[:8], row[8].obj, row[9]) for row in rows
    ]


def test_copy_text_of_the_simple_types():
    assert copy_text(None) == "\\N"
    assert copy_text("\\N") == "\\\\N"
    assert copy_text("a\tb\nc\rd\\e") == "a\\tb\\nc\\rd\\\\e"
    assert [copy_text(True), copy_text(False)] == ["t", "f"]
    assert copy_text(Decimal("1E+2")) == "1E+2"
    assert copy_text(Jsonb({"a": "x\ty"})) == '{"a": "x\\\\ty"}'


@pytest.mark.django_db
def test_the_collector_is_paused_while_an_import_runs_and_resumes_after(settings, monkeypatch):
    settings.CRM_IMPORT_BATCH_SIZE = 2
    seen, collected = [], []
    monkeypatch.setattr(gc, "collect", lambda generation=2: collected.append(len(seen)))
    header = ["external_id", "email", "phone"]
    rows = [  # the second batch has a refused row
        [f"G{n}", f"g{n}@example.com", "12" if n == 3 else "+14155550123"] for n in range(6)
    ]
    result = CustomerResource().import_rows(
        header, rows, on_batch=lambda done, batch: seen.append((done, gc.isenabled()))
    )

    assert seen == [(2, False), (4, False), (6, False)]
    assert gc.isenabled()
    assert result.totals["invalid"] == 1
    # A refused row's exceptions leave cycles: its batch, once reported and let go, is followed
    # by a collection.
    assert collected == [2]


def test_read_ahead_gives_every_item_in_order_made_by_another_thread():
    made_by = []

    def items():
        for number in range(5):
            made_by.append(threading.current_thread())
            yield number

    assert list(read_ahead(items())) == [0, 1, 2, 3, 4]
    assert threading.current_thread() not in made_by


def test_read_ahead_raises_an_error_where_the_caller_asks_for_the_item():
    def items():
        yield 1
        raise ValueError("row 2 cannot be read")

    ahead = read_ahead(items())
    assert next(ahead) == 1
    with pytest.raises(ValueError, match="row 2 cannot be read"):
        next(ahead)


def test_read_ahead_stops_its_thread_when_the_caller_stops():
    before = threading.active_count()
    ahead = read_ahead(itertools.count())
    assert next(ahead) == 0
    ahead.close()

    assert threading.active_count() == before


def test_touched_records_give_the_first_row_of_each_record():
    touched = TouchedRecords()
    for pk, row in [(101, 1), (105, 2), (230, 4)]:
        touched.add(pk, row, new=True)
    touched.add(7, 3, new=False)  # found: an existing record
    touched.add(7, 9, new=False)  # named again: the first row stays
    touched.add(50, 5, new=True)  # new but below the last new key: kept aside

    assert [touched.row_of(pk) for pk in (101, 105, 230, 7, 50)] == [1, 2, 4, 3, 5]
    assert [touched.row_of(pk) for pk in (100, 102, 231, 8)] == [None] * 4
    assert len(touched.new_keys) == 3
