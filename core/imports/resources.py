"""The base of every CRM import resource.

Subclass ``CrmResource`` as a django-import-export ``ModelResource``::

    class TagResource(CrmResource):
        column_aliases = {"tag": "name"}  # header names other exports use, any letter case

        class Meta:
            model = Tag
            fields = ("name", "color", "description")
            import_id_fields = ("name",)

What it does for every resource:

* header names are matched to the resource's columns trimmed, in any letter case, with spaces,
  underscores or hyphens alike ("First Name" is ``first_name``), and through ``column_aliases``;
  a file whose columns match none of them is refused as a whole;
* one leading apostrophe (written by spreadsheets and Shopify to keep "'+1 555…" or "'02134" as
  text, and by our exports before a cell that would run as a formula) is taken off every value;
* booleans read yes/no, true/false, 1/0; dates ISO or ``CRM_IMPORT_DATE_FORMAT``; emails and
  phones (E.164 with ``PHONENUMBER_DEFAULT_REGION``) are checked with a message naming the value;
* existing rows are found by the natural key with one query per batch of rows
  (``existing_lookup``; the default reads ``import_id_fields``), and a row that names the same
  record as an earlier row of the file is refused ("the same record as row 5");
* rows are written in bulk (``CRM_IMPORT_BATCH_SIZE`` a batch) in one transaction; any row in
  error rolls the whole import back unless the caller passes
  ``rollback_on_validation_errors=False`` (the admin's "import the valid rows" choice);
* an existing row whose values the file does not change is reported as skipped (unchanged),
  without the library's diff;
* ``problems(result)`` lists what went wrong as "row 17, email: 'bob@' is not a valid email
  address" (the header is row 1).

Override ``row_keys`` and ``existing_lookup`` for a natural key of several columns
(customers/resources.py), ``snapshot`` to count more than the model's columns in "unchanged".
"""

import copy
import re
from collections.abc import Iterable
from typing import ClassVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connections, models, router
from django.utils import timezone
from import_export import resources, widgets
from phonenumber_field.modelfields import PhoneNumberField

from core.imports import errors
from core.imports import widgets as crm_widgets
from core.imports.reading import ImportFileError

SEPARATORS = re.compile(r"[\s_\-]+")


def header_key(name: str) -> str:
    """A header as it is compared: trimmed, any letter case, spaces, _ and - alike."""
    return SEPARATORS.sub(" ", str(name or "").strip()).strip().casefold()


def unquote(value):
    """A value without the one leading apostrophe spreadsheets put before text."""
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("'"):
            return value[1:]
    return value


class CrmResource(resources.ModelResource):
    # Other header names for the resource's columns: {"customer id": "external_id", ...}.
    column_aliases: ClassVar[dict[str, str]] = {}

    WIDGETS_MAP = {
        **resources.ModelResource.WIDGETS_MAP,
        "CharField": crm_widgets.TextWidget,
        "TextField": crm_widgets.TextWidget,
        "BooleanField": crm_widgets.BooleanWidget,
        "DateField": crm_widgets.DateWidget,
    }

    class Meta:
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        skip_html_diff = True
        use_transactions = True
        clean_model_instances = True
        report_skipped = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._meta = copy.copy(self._meta)
        self._meta.batch_size = settings.CRM_IMPORT_BATCH_SIZE
        self._reset()

    def _reset(self) -> None:
        self._dataset = None
        self._row_index = 0
        self._loaded_batch = None
        self._existing: dict = {}
        self._batch_keys: dict[int, list] = {}
        self._seen: dict = {}
        self._before = None

    # -- widgets ---------------------------------------------------------------------------

    @classmethod
    def widget_from_django_field(cls, f, default=widgets.Widget):
        if isinstance(f, PhoneNumberField):
            return crm_widgets.PhoneWidget
        if isinstance(f, models.EmailField):
            return crm_widgets.EmailWidget
        return super().widget_from_django_field(f, default)

    @classmethod
    def widget_kwargs_for_field(cls, field_name, django_field):
        kwargs = super().widget_kwargs_for_field(field_name, django_field)
        if isinstance(django_field, PhoneNumberField):
            kwargs.pop("allow_blank", None)
        if isinstance(django_field, models.EmailField):
            kwargs["max_length"] = django_field.max_length
        return kwargs

    # -- the file ----------------------------------------------------------------------------

    def column_of(self, name: str) -> str:
        """The file's column for a field (or attribute) named in an error."""
        for field_name, field in self.fields.items():
            if name in (field_name, field.attribute):
                return field.column_name
        return name

    def import_data(self, dataset, *args, rollback_on_validation_errors=True, **kwargs):
        self._reset()
        result = super().import_data(
            dataset, *args, rollback_on_validation_errors=rollback_on_validation_errors, **kwargs
        )
        # The preview's columns: the file's own (as before_import named them), not every column
        # the resource has, so that each row's cells (``import_row``) sit under their heading.
        result.diff_headers = list(dataset.headers or ())
        return result

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        if row_result.diff is None:  # skip_diff: the preview shows the row as the file has it
            row_result.diff = list(row.values())
        return row_result

    def before_import(self, dataset, **kwargs):
        columns = {
            header_key(field.column_name): field.column_name for field in self.fields.values()
        }
        columns.update({header_key(alias): column for alias, column in self.column_aliases.items()})
        headers = [columns.get(header_key(header), header) for header in dataset.headers or ()]
        if not set(headers) & set(columns.values()):
            del dataset[0 : len(dataset)]
            known = ", ".join(field.column_name for field in self.get_import_fields())
            raise ImportFileError(
                f"None of the file's columns is one this import knows. The columns are: {known}."
            )
        dataset.headers = headers
        self._dataset = dataset

    def _check_import_id_fields(self, headers):
        # Rows are matched by row_keys, which takes whichever key columns the file has.
        return

    def before_import_row(self, row, **kwargs):
        for column, value in row.items():
            row[column] = unquote(value)
        self._row_index = kwargs.get("row_number", self._row_index + 1)
        self.check_duplicate(row)

    # -- finding existing rows, one query per batch ---------------------------------------------

    def row_keys(self, row) -> list[tuple[str, object]]:
        """The natural keys a row names, most decisive first, as (field, value); blanks left
        out. A value the widget cannot read gives no key (its error is reported on import)."""
        keys = []
        for name in self.get_import_id_fields():
            field = self.fields[name]
            if field.column_name not in row:
                continue
            try:
                value = field.clean(row)
            except ValueError:
                continue
            if value not in (None, ""):
                keys.append((field.attribute, value))
        return keys

    def existing_lookup(self, keys: Iterable[tuple[str, object]]) -> dict:
        """The existing instances the keys name, as {key: instance}, in one query per field."""
        by_field: dict[str, set] = {}
        for field, value in keys:
            by_field.setdefault(field, set()).add(value)
        found = {}
        for field, values in by_field.items():
            for instance in self.get_queryset().filter(**{f"{field}__in": values}):
                found[(field, getattr(instance, field))] = instance
        return found

    def check_duplicate(self, row) -> None:
        problems = self.repeats(self.keys_of_row(row), self._row_index)
        if problems:
            raise ValidationError(problems)

    def repeats(self, keys, number: int, record_keys=()) -> dict:
        """{field: [message]} for a row naming the same record as an earlier row of the file:
        by one of its ``keys``, or (``record_keys``, such as the key of the existing record its
        keys found) by another way to it, reported on its first key. Otherwise the row, number
        ``number``, is recorded as the one that named them."""

        problems = {}
        for key in keys:
            if key in self._seen:
                problems.update(self.repeat_problem(key, self._seen[key]))
        if not problems and keys:
            earlier = next((self._seen[key] for key in record_keys if key in self._seen), None)
            if earlier is not None:
                problems = self.repeat_problem(keys[0], earlier)
        if not problems:
            for key in (*keys, *record_keys):
                self._seen[key] = number
        return problems

    @staticmethod
    def repeat_problem(key, earlier: int) -> dict:
        """{field: [message]} of a row whose ``key`` names the record row ``earlier`` named."""
        return {key[0]: [f"'{key[1]}' is the same record as row {errors.file_row(earlier)}"]}

    def keys_of_row(self, row) -> list[tuple[str, object]]:
        """The row's natural keys, read once per row: the first row of each batch reads the
        keys of the whole batch and finds their existing records in one query."""
        size = self._meta.batch_size or 1000
        batch = (self._row_index - 1) // size
        if batch != self._loaded_batch and self._dataset is not None:
            headers = self._dataset.headers
            start = batch * size
            self._batch_keys = {}
            for index, values in enumerate(self._dataset[start : start + size], start + 1):
                self._batch_keys[index] = self.row_keys(
                    {h: unquote(v) for h, v in zip(headers, values, strict=False)}
                )
            self._existing = self.existing_lookup(
                [key for keys in self._batch_keys.values() for key in keys]
            )
            self._loaded_batch = batch
        keys = self._batch_keys.get(self._row_index)
        return self.row_keys(row) if keys is None else keys

    def get_instance(self, instance_loader, row):
        for key in self.keys_of_row(row):
            instance = self._existing.get(key)
            if instance is not None:
                return instance
        return None

    # -- unchanged rows ----------------------------------------------------------------------

    def snapshot(self, instance) -> tuple:
        """What an update compares to tell an unchanged row: the imported fields' values."""
        values = []
        for field in self.get_import_fields():
            if field.attribute and not isinstance(field.widget, widgets.ManyToManyWidget):
                value = field.get_value(instance)
                values.append(copy.deepcopy(value) if isinstance(value, dict | list) else value)
        return tuple(values)

    def after_init_instance(self, instance, new, row, **kwargs):
        self._before = None if new else self.snapshot(instance)

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if self._before is None or import_validation_errors:
            return False
        return self.snapshot(instance) == self._before

    # -- validation and saving ----------------------------------------------------------------

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        # Uniqueness is the natural key's (one query per batch), not a query per row.
        found = dict(import_validation_errors or {})
        try:
            instance.full_clean(
                exclude=found.keys(), validate_unique=False, validate_constraints=False
            )
        except ValidationError as error:
            found = error.update_error_dict(found)
        if found:
            raise ValidationError(found)

    def get_bulk_update_fields(self):
        model_fields = {field.name for field in self._meta.model._meta.concrete_fields}
        protected = set(getattr(self._meta.model, "protected_fields", ()))
        names = {
            field.attribute
            for field in self.get_import_fields()
            if field.attribute in model_fields and field.attribute not in protected
        }
        names.discard(self._meta.model._meta.pk.name)
        if "updated_at" in model_fields:
            names.add("updated_at")
        return sorted(names)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        # Django's bulk_update writes a CASE per column and row, slow to build for thousands of
        # rows (2,000 rows of 20 columns: seconds in Python); one UPDATE … FROM VALUES is not.
        if self.update_instances and (using_transactions or not dry_run):
            try:
                update_from_values(
                    self._meta.model, self.update_instances, self.get_bulk_update_fields()
                )
            except (DatabaseError, ValueError, TypeError) as error:
                self.handle_import_error(result, error, raise_errors)
            finally:
                self.update_instances.clear()

    def before_save_instance(self, instance, row, **kwargs):
        if instance.pk is not None and hasattr(instance, "updated_at"):
            instance.updated_at = timezone.now()

    def problems(self, result) -> list[errors.RowProblem]:
        """Everything that went wrong, as "row 17, email: …", the file's problems first."""
        return errors.result_problems(result, self.column_of)


# Text columns take their values as they come; others are cast, so a column of NULLs or of
# strings has the column's type in VALUES (PostgreSQL types a VALUES list by its first rows).
TEXT_TYPES = frozenset({"CharField", "TextField", "EmailField", "SlugField", "URLField"})


def update_from_values(model: type[models.Model], instances: list, names: list[str]) -> int:
    """Write ``names`` of every instance in one ``WITH v AS (VALUES …) UPDATE … FROM v``
    statement per chunk of rows (as many as the database takes parameters for). Returns how
    many rows were updated."""
    if not instances or not names:
        return 0
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    pk = model._meta.pk
    fields = [pk, *(model._meta.get_field(name) for name in names)]
    cast = connection.vendor == "postgresql"
    placeholders = ", ".join(
        "%s"
        if not cast or field.get_internal_type() in TEXT_TYPES
        else f"CAST(%s AS {field.db_type(connection)})"
        for field in fields
    )
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    assignments = ", ".join(f"{quote(f.column)} = v.{quote(f.column)}" for f in fields[1:])
    limit = min(connection.features.max_query_params or 30_000, 30_000)
    chunk = max(1, limit // len(fields))
    updated = 0
    with connection.cursor() as cursor:
        for start in range(0, len(instances), chunk):
            part = instances[start : start + chunk]
            params = [
                field.get_db_prep_save(getattr(instance, field.attname), connection)
                for instance in part
                for field in fields
            ]
            rows = ", ".join([f"({placeholders})"] * len(part))
            cursor.execute(
                f"WITH v ({columns}) AS (VALUES {rows}) "
                f"UPDATE {table} SET {assignments} FROM v "
                f"WHERE {table}.{quote(pk.column)} = v.{quote(pk.column)}",
                params,
            )
            updated += cursor.rowcount
    return updated
