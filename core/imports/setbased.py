"""A set-based import behind the library's preview, for the resources that must take hundreds of
thousands of rows (customers: docs/import-export.md, "Speed").

The library reads, checks and writes a row at a time, about two thousand function calls a row:
some 600 rows a second on a small machine. This path reads a batch of rows
(``CRM_IMPORT_BATCH_SIZE``) and cleans each with the resource's own widgets (``read_batches``,
run by a thread of its own one batch ahead: ``read_ahead``), finds the batch's existing records
in one query per key (``existing_lookup``), decides in Python what each row is (new, updated,
unchanged or refused) after the model's own validation of the fields the file has
(``validate``), hands each new record at once to a ``CopyWriter`` (on PostgreSQL a ``COPY``
open while the rows are checked) and writes the rest of the batch in a few statements
(``write_batch``). It returns the library's ``Result``, row by row, so the dry-run preview,
"import the valid rows", the import jobs and ``problems()`` read it as they read the library's;
``import_rows`` takes the rows of a file as they are read, for import jobs, in memory that does
not grow with the file (``TouchedRecords``, ``collector_paused``).

A resource opts in by mixing ``SetBasedImportMixin`` in before ``CrmResource`` and defining
``row_keys_of`` (a row's natural keys from its cleaned values), ``insert_writer`` and
``write_batch``; it may define ``unique_keys``, ``varying_names``, ``import_extras`` (columns
that are not the model's own) and ``extras_unchanged``. Its model is a ``CrmModel``
(``clean_fields_of``). Its widgets and ``row_keys_of`` must not use the database: they run in
the reading thread.
"""

import array
import bisect
import contextlib
import dataclasses
import datetime
import functools
import gc
import itertools
import json
import queue
import threading
from collections.abc import Iterable, Iterator
from decimal import Decimal

import tablib
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models.base import ModelState
from import_export import exceptions, widgets
from import_export.results import RowResult
from phonenumber_field.modelfields import PhoneNumberField
from phonenumber_field.phonenumber import PhoneNumber
from psycopg.adapt import PyFormat, Transformer
from psycopg.types.json import Jsonb

from core.imports.resources import unquote
from core.imports.widgets import stored_form
from core.sql import logged


@dataclasses.dataclass
class Batch:
    """A batch of rows as ``import_batch`` reads it: the rows as dicts (the first is row
    ``first`` of the file), the model fields the file has, each row's cleaned values and
    problems and its natural keys, the fields whose widgets checked all the model checks
    (``covers``), the existing records the keys find, and what the rows were decided to be."""

    rows: list[dict]
    first: int
    names: list[str]
    cleaned: list[tuple[dict, dict]]
    keys: list[list[tuple[str, object]]]
    covered: frozenset = frozenset()
    existing: dict = dataclasses.field(default_factory=dict)
    created: list = dataclasses.field(default_factory=list)
    updated: list = dataclasses.field(default_factory=list)
    done: list = dataclasses.field(default_factory=list)


class SetBasedImportMixin:
    """``import_data`` in batches, set-based (see the module's docstring)."""

    # The natural keys no two records share (a phone number may be shared: not one of them). A
    # blank cell in one of them leaves an existing record's key as it is.
    unique_keys: tuple[str, ...] = ()

    def import_data(
        self,
        dataset,
        dry_run=False,
        raise_errors=False,
        use_transactions=None,
        collect_failed_rows=False,
        rollback_on_validation_errors=True,
        **kwargs,
    ):
        return self.import_rows(
            dataset.headers,
            dataset,
            total=len(dataset),
            dry_run=dry_run,
            raise_errors=raise_errors,
            rollback_on_validation_errors=rollback_on_validation_errors,
            user=kwargs.get("user"),
        )

    def import_rows(
        self,
        headers,
        rows,
        *,
        total: int | None = None,
        dry_run: bool = False,
        raise_errors: bool = False,
        rollback_on_validation_errors: bool = True,
        user=None,
        on_batch=None,
    ):
        """Import ``rows`` (lists of values in the order of ``headers``; any iterable, read a
        batch at a time) in one transaction, rolled back on a dry run, an error, or a refused
        row unless ``rollback_on_validation_errors`` is False. Returns the library's Result.

        With ``on_batch``, each batch's rows are reported in a Result of their own, handed to
        ``on_batch(rows_done, batch_result)`` and then let go; the Result returned has the
        totals only. Memory then stays that of one batch, whatever the number of rows (import
        jobs: core/jobs/services.py)."""
        self._reset()
        self.import_user = user
        self.touched = TouchedRecords()
        result = self.get_result_class()()
        result.total_rows = total or 0
        heading = tablib.Dataset(headers=list(headers or ()))
        try:
            self.before_import(heading)
        except Exception as error:  # noqa: BLE001 - the library reports the file's problem so
            self.handle_import_error(result, error, raise_errors)
            return result
        result.add_dataset_headers(heading.headers)
        headers = list(heading.headers)
        result.diff_headers = headers  # the preview shows each row as the file has it
        fields = [
            field
            for field in self.get_import_fields()
            if field.attribute
            and field.column_name in headers
            and not isinstance(field.widget, widgets.ManyToManyWidget)
            and field.attribute in self.model_field_names()
        ]
        using = router.db_for_write(self._meta.model)
        refused = failed = False
        batches = read_ahead(self.read_batches(headers, iter(rows), fields))
        done = 0
        with transaction.atomic(using=using), collector_paused(), contextlib.closing(batches):
            try:
                upcoming = next(batches, None)
                while (batch := upcoming) is not None:
                    target = result if on_batch is None else self.get_result_class()()
                    upcoming = self.import_batch(batch, target, raise_errors, batches)
                    done = batch.first + len(batch.rows) - 1
                    leaves_cycles = target.has_validation_errors() or target.has_errors()
                    refused |= target.has_validation_errors()
                    failed |= target.has_errors()
                    if on_batch is not None:
                        for kind, count in target.totals.items():
                            result.totals[kind] += count
                        on_batch(done, target)
                    del batch, target
                    if leaves_cycles:  # a refused row's exceptions: collected once let go
                        gc.collect(1)
            except DatabaseError as error:  # a batch's statements fail together, not a row
                self.handle_import_error(result, error, raise_errors)
                failed = True
            result.total_rows = total or done
            if dry_run or failed or (rollback_on_validation_errors and refused):
                transaction.set_rollback(True, using=using)
        return result

    def model_field_names(self) -> frozenset[str]:
        return frozenset(field.name for field in self._meta.model._meta.concrete_fields)

    # -- hooks -----------------------------------------------------------------------------

    def row_keys_of(self, values: dict) -> list[tuple[str, object]]:
        """The natural keys of a row's cleaned values, most decisive first."""
        raise NotImplementedError

    def new_instance(self):
        """A new record before the row is read (its defaults). Each row's is a copy of the first
        (``instance_copy``): building a model of forty fields costs about 50 µs."""
        return self._meta.model()

    def varying_names(self, names: list[str]) -> list[str]:
        """The model fields a row may set: the file's (``names``), and what ``import_extras``
        and the model's normalising set besides. Each is checked, every other left out."""
        return names

    def import_extras(self, instance, row: dict, problems: dict) -> None:
        """Read the row's columns that are not the model's own onto ``instance``; add what is
        wrong to ``problems`` ({column: [message]})."""

    def extras_unchanged(self, instance) -> bool:
        return True

    def insert_writer(self, names: list[str], expected: int) -> "CopyWriter":
        """What writes the batch's new instances as they are decided (a ``CopyWriter``)."""
        raise NotImplementedError

    def write_batch(self, created: list, updated: list, names: list[str]) -> None:
        """Write the rest of the batch: ``created`` are the new instances, written already by
        ``insert_writer``; ``updated`` existing ones whose ``names`` fields may have changed."""
        raise NotImplementedError

    # -- one batch ---------------------------------------------------------------------------

    def clean_values(self, row: dict, fields) -> tuple[dict, dict]:
        """The row's values as the model takes them, and {attribute: [message]} of those the
        widgets refuse."""
        values, problems = {}, {}
        for field in fields:
            try:
                value = field.clean(row)
            except ValueError as error:
                problems[field.attribute] = [str(error)]
                continue
            if value is not None or field.saves_null_values:
                values[field.attribute] = value
        return values, problems

    def read_batches(self, headers: list[str], rows, fields):
        """The rows of the file read ``batch_size`` at a time, each batch as a ``Batch`` with
        its rows cleaned (``clean_values``) and their keys found (``row_keys_of``)."""
        size = self._meta.batch_size or 1000
        names = [field.attribute for field in fields]
        meta = self._meta.model._meta
        covered = frozenset(
            field.attribute
            for field in fields
            if hasattr(field.widget, "covers")
            and field.widget.covers(meta.get_field(field.attribute))
        )
        first = 1
        while values := list(itertools.islice(rows, size)):
            batch_rows = [dict(zip(headers, map(unquote, row), strict=False)) for row in values]
            cleaned = [self.clean_values(row, fields) for row in batch_rows]
            keys = [self.row_keys_of(row_values) for row_values, _ in cleaned]
            yield Batch(batch_rows, first, names, cleaned, keys, covered)
            first += len(values)

    def import_batch(self, batch: "Batch", result, raise_errors, batches) -> "Batch | None":
        """Import one batch; return the next from ``batches``, read and cleaned while the
        database stores this one's new rows (the ``COPY`` is still open), or None."""
        batch.existing = self.existing_lookup([key for keys in batch.keys for key in keys])
        may_be_new = sum(
            1
            for (_, problems), row_keys in zip(batch.cleaned, batch.keys, strict=True)
            if not problems and not any(key in batch.existing for key in row_keys)
        )
        with self.insert_writer(batch.names, may_be_new) as writer:
            self.decide_rows(batch, writer, result, raise_errors)
            upcoming = next(batches, None)
        if batch.created or batch.updated:
            self.write_batch(batch.created, batch.updated, batch.names)
        for number, row_result, instance in batch.done:
            row_result.instance = instance
            row_result.object_id = instance.pk
            self.touched.add(
                instance.pk, number, new=row_result.import_type == RowResult.IMPORT_TYPE_NEW
            )
        return upcoming

    def decide_rows(self, batch: "Batch", writer: "CopyWriter", result, raise_errors) -> None:
        """Each row of the batch checked and decided: new ones handed to ``writer`` at once."""
        names, existing = batch.names, batch.existing
        created, updated, done = batch.created, batch.updated, batch.done
        template = self.new_instance()
        first = batch.first
        checked_names = self.varying_names(names)
        # What the widgets checked in full (``covers``) is not checked again.
        checked = [
            self._meta.model._meta.get_field(name)
            for name in checked_names
            if name not in batch.covered
        ]
        unchecked = self.model_field_names() - {field.name for field in checked}
        # Repeats by their keys (``repeats``) within the batch and of an earlier batch's refused
        # row (few: their keys are kept); of an earlier batch's accepted row by the record the
        # lookups found (``touched_before``): its keys are not kept.
        refused_rows = set()
        for offset, (row, (values, problems), row_keys) in enumerate(
            zip(batch.rows, batch.cleaned, batch.keys, strict=True)
        ):
            number = first + offset
            row_result = self.get_row_result_class()()
            found = next((existing[key] for key in row_keys if key in existing), None)
            record = () if found is None else (("pk", found.pk),)
            problems.update(self.repeats(row_keys, number, record))
            if found is not None and not problems:
                problems.update(self.touched_before(found, row_keys, existing))
            problems.update(self.conflicting_keys(row_keys, existing))
            instance = instance_copy(template if found is None else found)
            before = None if found is None else [getattr(found, name) for name in names]
            for name, value in values.items():
                if found is not None and value in ("", None) and name in self.unique_keys:
                    continue  # a blank key cell never clears the record's own key
                setattr(instance, name, value)
            self.import_extras(instance, row, problems)
            problems = self.validate(instance, checked, unchecked, problems)
            if problems:
                refused_rows.add(number)
                error = ValidationError(problems)
                row_result.import_type = RowResult.IMPORT_TYPE_INVALID
                row_result.validation_error = error
                result.append_invalid_row(number, row, error)
                if raise_errors:
                    raise exceptions.ImportError(error, number=number, row=row)
            elif found is None:
                row_result.import_type = RowResult.IMPORT_TYPE_NEW
                writer.add(instance)
                created.append(instance)
            elif before == [getattr(instance, name) for name in names] and (
                self.extras_unchanged(instance)
            ):
                row_result.import_type = RowResult.IMPORT_TYPE_SKIP
            else:
                row_result.import_type = RowResult.IMPORT_TYPE_UPDATE
                updated.append(instance)
            if row_result.import_type != RowResult.IMPORT_TYPE_INVALID:
                row_result.diff = list(row.values())
                done.append((number, row_result, instance))
            result.increment_row_result_total(row_result)
            result.append_row_result(row_result)
        self._seen = {
            key: number
            for key, number in self._seen.items()
            if number < first or number in refused_rows
        }

    @staticmethod
    def validate(instance, checked: list, unchecked: frozenset, problems: dict) -> dict:
        """``problems`` with what the model's own validation finds in ``instance``, as
        ``full_clean`` finds it without the uniqueness checks (the lookups did that), for the
        ``checked`` fields not in error already (``CrmModel.clean_fields_of``)."""
        skip = unchecked
        if problems:
            checked = [field for field in checked if field.name not in problems]
            skip = unchecked | problems.keys()
        for check in (lambda: instance.clean_fields_of(checked, skip), instance.clean):
            try:
                check()
            except ValidationError as error:
                problems = error.update_error_dict(problems)
        return problems

    def touched_before(self, found, row_keys, existing) -> dict:
        """A row whose unique key finds a record an earlier batch's row created or found is
        refused as a repeat of that row, on that key. A key several records may share (a phone)
        is left out: it finds the oldest of them, not necessarily the one the earlier row
        meant."""
        key = next((key for key in row_keys if existing.get(key) is found), None)
        if key is None or key[0] not in self.unique_keys:
            return {}
        earlier = self.touched.row_of(found.pk)
        return {} if earlier is None else self.repeat_problem(key, earlier)

    def conflicting_keys(self, row_keys, existing) -> dict:
        """A row whose unique keys (``unique_keys``) find two different records (its external ID
        one customer, its email another) is refused on the later key: updating the first would
        take the second's key."""
        first = None
        for key in row_keys:
            record = existing.get(key) if key[0] in self.unique_keys else None
            if record is None:
                continue
            if first is None:
                first = (key, record)
            elif record.pk != first[1].pk:
                return {
                    key[0]: [
                        f"'{key[1]}' belongs to another record than {first[0][0]} "
                        f"'{first[0][1]}' of the same row"
                    ]
                }
        return {}


def read_ahead(items: Iterable) -> Iterator:
    """The items of ``items``, each made by a thread of its own while the caller works on the
    one before. Python runs one thread at a time, but a thread waiting for the database lets
    another run: an import's next batch is read and cleaned while it waits for the lookups and
    the writes of this one. What ``items`` runs must not use the database (a thread has a
    connection of its own, outside the import's transaction). An error making an item is
    raised where the caller asks for it; when the caller stops, so does the thread."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stopped = threading.Event()

    def hand(entry) -> bool:
        while not stopped.is_set():
            try:
                handoff.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not hand((item, None)):
                    return
            hand((_END, None))
        except BaseException as error:  # noqa: BLE001 - raised again in the caller's thread
            hand((_END, error))

    thread = threading.Thread(target=make, name="import-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item
    finally:
        stopped.set()
        thread.join()


_END = object()


class TouchedRecords:
    """The records an import has created or found so far, each with the first row that named
    it (a later row naming one again is a repeat), kept small whatever the file's size: a new
    record's key is larger than every new key before it (drawn from the sequence in order), so
    new records are two arrays of machine integers (12 bytes a row, searched by bisection); a
    found record is a dict entry."""

    def __init__(self):
        self.new_keys = array.array("q")
        self.new_rows = array.array("i")
        self.found: dict[int, int] = {}

    def add(self, pk: int, row: int, *, new: bool) -> None:
        if new and (not self.new_keys or pk > self.new_keys[-1]):
            self.new_keys.append(pk)
            self.new_rows.append(row)
        else:
            self.found.setdefault(pk, row)

    def row_of(self, pk: int) -> int | None:
        """The first row that named the record ``pk``, or None."""
        row = self.found.get(pk)
        if row is None:
            index = bisect.bisect_left(self.new_keys, pk)
            if index < len(self.new_keys) and self.new_keys[index] == pk:
                row = self.new_rows[index]
        return row


@contextlib.contextmanager
def collector_paused():
    """Python's cycle collector paused while an import runs. Left on, it walks every live
    object again and again as the objects kept for the whole file (the keys the duplicate check
    has seen) grow: a tenth of the time of a big import. A batch of good rows leaves no cycles
    behind (reference counting frees it all); the exceptions of refused rows do, so a batch
    with refused rows is followed by a collection of the young objects."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@functools.cache
def json_attnames(model) -> tuple[str, ...]:
    return tuple(
        field.attname
        for field in model._meta.concrete_fields
        if isinstance(field, models.JSONField)
    )


def instance_copy(instance):
    """A copy of a model instance whose fields can be set without touching the original: its
    own state, and its own copy of each JSON field's dict or list."""
    clone = instance.__class__.__new__(instance.__class__)
    clone.__dict__ = values = instance.__dict__.copy()
    for name in json_attnames(instance.__class__):
        value = values.get(name)
        if isinstance(value, dict | list):
            values[name] = value.copy()
    state = clone._state = ModelState()
    state.adding, state.db = instance._state.adding, instance._state.db
    state.fields_cache = dict(instance._state.fields_cache)
    return clone


# Fields whose value, once validated, is the text the database stores: no preparing needed.
PLAIN_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField)


def value_preparer(field, connection):
    """A function giving a field's value as the database takes it (``get_db_prep_save``),
    for plain text fields the value itself, for a phone number its stored form."""
    if type(field) in PLAIN_TEXT_FIELDS:
        return lambda value: value
    if isinstance(field, PhoneNumberField):
        return lambda value: (
            stored_form(value)
            if isinstance(value, PhoneNumber)
            else field.get_db_prep_save(value, connection)
        )
    return lambda value: field.get_db_prep_save(value, connection)


# COPY's text format: a backslash, tab, newline and carriage return within a value escaped.
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
COPY_BLOCK_ROWS = 200


def copy_text(value) -> str:
    """A value as a column of ``COPY … FROM STDIN``'s text format. The value is one as
    ``get_db_prep_save`` gives it: text, a number, a date or time, a boolean, None, JSON
    (psycopg's ``Jsonb``); any other type is written by psycopg's own text dumper."""
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            return value.translate(COPY_ESCAPES)
        return value
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, datetime.date | datetime.time):  # a datetime too, with its offset
        return value.isoformat()
    if isinstance(value, Jsonb):
        return copy_text((value.dumps or json.dumps)(value.obj))
    dumper = Transformer().get_dumper(value, PyFormat.TEXT)
    return copy_text(bytes(dumper.dump(value)).decode())


@contextlib.contextmanager
def copy_from_stdin(connection, model, fields):
    """A ``COPY … FROM STDIN`` into ``fields`` (Field objects) of ``model``'s table, as a
    context manager giving psycopg's Copy: the rows written are stored when it ends, each a line
    of ``copy_text`` columns. Its errors are Django's (as ``execute``'s), and it is in the
    connection's query log."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        logged(connection, sql),
        cursor.cursor.copy(sql) as copy,
    ):
        yield copy


class CopyWriter:
    """New instances of ``model`` written as the batch decides them, as a context manager:
    ``add(instance)`` for each. On PostgreSQL their keys are drawn from the table's sequence
    first (``expected`` of them: the rows that may be new; the unused ones are left as a gap)
    and a ``COPY … FROM STDIN`` stays open while the batch's rows are checked, so the database
    stores each block of rows while Python checks the next. ``names`` are read from each
    instance, every other column from ``constant`` ({attname: value}, the same for every row,
    written as text once for all rows). Elsewhere the instances are written with
    ``bulk_create`` at the end."""

    def __init__(self, model, names: list[str], constant: dict, expected: int):
        self.model, self.names, self.constant, self.expected = model, names, constant, expected
        # Each instance gets its own copy of these (a JSON field's list or dict).
        self.mutable = [name for name, value in constant.items() if isinstance(value, dict | list)]
        self.connection = connections[router.db_for_write(model)]
        self.instances: list = []
        self.out = None

    def __enter__(self) -> "CopyWriter":
        connection, meta = self.connection, self.model._meta
        if connection.vendor != "postgresql" or not self.expected:
            return self
        varying = [meta.get_field(name) for name in self.names]
        fixed = [
            field
            for field in meta.concrete_fields
            if not field.primary_key and field.name not in set(self.names)
        ]
        # Every row ends with the same columns: their text once, not each row's.
        self.row_end = (
            "".join(
                "\t" + copy_text(field.get_db_prep_save(self.constant[field.attname], connection))
                for field in fixed
            )
            + "\n"
        )
        self.preparers = [(field.attname, value_preparer(field, connection)) for field in varying]
        self.lines: list[str] = []
        self.stack = contextlib.ExitStack()
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, self.expected],
            )
            self.keys = iter([pk for (pk,) in cursor.fetchall()])
        self.out = self.stack.enter_context(
            copy_from_stdin(connection, self.model, [meta.pk, *varying, *fixed])
        )
        self.stack.push(self._flush_rest)  # the last block, before the COPY ends
        return self

    def add(self, instance) -> None:
        instance.__dict__.update(self.constant)
        for name in self.mutable:
            instance.__dict__[name] = self.constant[name].copy()
        self.instances.append(instance)
        if self.out is None:
            return
        instance.pk = next(self.keys)
        columns = [str(instance.pk)]
        for attname, prepare in self.preparers:
            columns.append(copy_text(prepare(getattr(instance, attname))))
        self.lines.append("\t".join(columns) + self.row_end)
        if len(self.lines) >= COPY_BLOCK_ROWS:
            self.flush()

    def _flush_rest(self, exc_type, exc, traceback) -> None:
        if exc_type is None and self.lines:
            self.flush()

    def flush(self) -> None:
        self.out.write("".join(self.lines))
        self.lines.clear()

    def __exit__(self, *exc_info) -> None:
        if self.out is not None:
            self.stack.__exit__(*exc_info)
        elif exc_info[0] is None and self.instances:
            self.model.objects.bulk_create(self.instances)
        for instance in self.instances:
            instance._state.adding = False
            instance._state.db = self.connection.alias
