"""Forms of the segment pages: a segment from the customer list's filters, and the rule builder,
whose rows of field, comparison and value make the conditions of a segment's rules.

The builder never checks a rule itself: each row becomes a condition as the user wrote it and
``rules_validate`` (segments/rules.py) judges the whole rules; its "condition N: ..." messages go
back onto row N. Only after they pass are the values converted with ``value_clean`` for storing.
"""

import re
from decimal import Decimal
from typing import Any

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Layout, Row
from django import forms
from django.forms.formsets import ManagementForm
from django.urls import reverse
from django.utils.text import slugify

from core.segment_fields import (
    BETWEEN,
    BOOLEAN,
    CHOICE,
    DATE,
    EQ,
    GT,
    GTE,
    INTEGER,
    IS_EMPTY,
    IS_NOT_EMPTY,
    LIST_OPERATORS,
    LT,
    LTE,
    MONEY,
    NE,
    NO_VALUE_OPERATORS,
    NUMBER,
    STRING,
    SegmentField,
    segment_field,
    segment_fields,
)
from customers.models import Tag
from segments.models import BulkAction, Segment
from segments.rules import ALL, ANY, LIST_WORDS, WORDS, rules_validate, value_clean

# Addresses under /segments/ that are pages, not segments (segments/urls.py).
RESERVED_SLUGS = frozenset({"new", "build"})


def segment_name_clean(name: str, *, segment: Segment | None = None) -> str:
    """A segment's name, trimmed; refused when it has no letter or digit, when a new segment's
    address (made from the name) is taken, or when another segment has the name (any case)."""
    name = name.strip()
    # The address is made from the name: two names with one address cannot both be saved.
    slug = slugify(name, allow_unicode=True)
    if not slug:
        raise forms.ValidationError("Use at least one letter or digit in the name.")
    if segment is None or not segment.pk:
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError(
                f"The address “{slug}” is taken by a page of its own. Choose another name."
            )
        if Segment.objects.filter(slug=slug).exists():
            raise forms.ValidationError(
                f"A segment with a name so close that its address would be the same (“{slug}”) "
                "already exists. Choose another name."
            )
    # A renamed segment keeps its address; its name must still be its own.
    elif Segment.objects.exclude(pk=segment.pk).filter(name__iexact=name).exists():
        raise forms.ValidationError(f"Another segment is already called “{name}”.")
    return name


class SegmentFromFiltersForm(forms.ModelForm):
    """A name and a description for a segment whose rules come from the customer list."""

    class Meta:
        model = Segment
        fields = ("name", "description")
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean_name(self):
        return segment_name_clean(self.cleaned_data["name"])


class BulkActionForm(forms.Form):
    """What to do with a segment's members (all, or those ticked on its page): the choices of
    ``segments.bulk.bulk_action_start``, which checks them again."""

    kind = forms.ChoiceField(
        label="Action", choices=BulkAction.Kind.choices, widget=forms.RadioSelect
    )
    tag = forms.ModelChoiceField(
        label="Tag",
        queryset=Tag.objects.order_by("name"),
        required=False,
        empty_label="Choose a tag",
        help_text="For adding or removing a tag.",
    )
    target_segment = forms.ModelChoiceField(
        label="Segment",
        queryset=Segment.objects.none(),
        required=False,
        empty_label="Choose a segment",
        help_text="For adding them to another segment by hand.",
    )
    customer = forms.TypedMultipleChoiceField(
        coerce=int, required=False, widget=forms.MultipleHiddenInput
    )

    def __init__(self, *args, segment: Segment, customer_ids: list[int] | None, **kwargs):
        super().__init__(*args, **kwargs)
        self.segment = segment
        self.fields["target_segment"].queryset = Segment.objects.exclude(pk=segment.pk).order_by(
            "name"
        )
        self.fields["customer"].choices = [(pk, pk) for pk in customer_ids or []]
        self.helper = FormHelper()
        self.helper.form_tag = False

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind in (BulkAction.Kind.ADD_TAG, BulkAction.Kind.REMOVE_TAG) and not cleaned.get("tag"):
            self.add_error("tag", "Choose the tag to add or remove.")
        if kind == BulkAction.Kind.ADD_TO_SEGMENT and not cleaned.get("target_segment"):
            self.add_error("target_segment", "Choose the segment to add them to.")
        return cleaned


# The rule builder ------------------------------------------------------------------------------

PREFIX = "conditions"
MAX_CONDITIONS = 30
MATCH_CHOICES = [(ALL, "all of the conditions"), (ANY, "any of the conditions")]
# How each operator reads in a row: "Total spent is at least 500". The words rules_describe
# uses for lists and for "is" / "is not" are its own, imported, so a rule reads the same in
# its summary and in the builder.
OPERATOR_WORDS = {
    EQ: "equals",
    NE: "does not equal",
    GT: "is more than",
    GTE: "is at least",
    LT: "is less than",
    LTE: "is at most",
    BETWEEN: "is between",
    IS_EMPTY: "is empty",
    IS_NOT_EMPTY: "is not empty",
    **LIST_WORDS,
}
BOOLEAN_CHOICES = [("true", "yes"), ("false", "no")]
BOOLEAN_VALUES = {"true": True, "false": False}
# How a row's value is entered, from its field and operator.
NO_VALUE, YES_NO, ONE_CHOICE, CHOICES, TEXT, TEXT_LIST = (
    "none",
    "boolean",
    "select",
    "multiple",
    "text",
    "list",
)
CONDITION_MESSAGE = re.compile(r"^condition (\d+): (.*)$", re.DOTALL)
# Long enough for any registered name; a longer one is not a field and is cut before echoing.
NAME_MAX_LENGTH = 100
RANGE_HINT_MAX = 100_000
BLANK_ROW = {"field": "", "op": "", "value": "", "value_high": ""}


class RowsError(ValueError):
    """The rows' count (the formset's management form) is missing or not to be believed."""


def operator_label(field: SegmentField | None, op: str) -> str:
    """The operator in words for this field: "is" for a choice, "equals" for a number."""
    # rules_describe reads eq/ne as "is"/"is not" for the same fields.
    worded = field is not None and (
        field.type in (CHOICE, BOOLEAN, STRING) or field.choices is not None
    )
    if op in WORDS and worded:
        return WORDS[op]
    return OPERATOR_WORDS.get(op, op)


def value_kind(field: SegmentField | None, op: str) -> str:
    """How the value of a row with this field and operator is entered."""
    if field is None:
        return TEXT
    if op in NO_VALUE_OPERATORS:
        return NO_VALUE
    if field.type == BOOLEAN:
        return YES_NO
    if field.choices is not None:
        return CHOICES if op in LIST_OPERATORS else ONE_CHOICE
    return TEXT_LIST if op in LIST_OPERATORS else TEXT


def value_choices(field: SegmentField) -> list[tuple[str, str]]:
    """The values a select offers for ``field``: its special values ("This month") first."""
    special = [(key, words[:1].upper() + words[1:]) for key, words in field.special_values.items()]
    return special + [(str(value), str(label)) for value, label in field.choices()]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def row_from_condition(condition: dict) -> dict:
    """A stored condition as a row's values (the inverse of ``condition_from_row``)."""
    field = segment_field(str(condition.get("field", "")))
    op = str(condition.get("op", ""))
    value = condition.get("value")
    row = {**BLANK_ROW, "field": str(condition.get("field", "")), "op": op}
    kind = value_kind(field, op)
    if op == BETWEEN and isinstance(value, list | tuple) and len(value) == 2:
        row["value"], row["value_high"] = _text(value[0]), _text(value[1])
    elif kind == CHOICES:
        row["value"] = [_text(item) for item in value] if isinstance(value, list) else []
    elif isinstance(value, list | tuple):
        row["value"] = ", ".join(_text(item) for item in value)
    elif kind != NO_VALUE:
        row["value"] = _text(value)
    return row


def rows_from_rules(rules: Any) -> list[dict] | None:
    """The rows that show ``rules``, or None when they hold a group (a condition with
    conditions of its own), which rows cannot show."""
    if not isinstance(rules, dict) or not rules.get("conditions"):
        return []
    conditions = rules["conditions"]
    if any("conditions" in condition or "match" in condition for condition in conditions):
        return None
    return [row_from_condition(condition) for condition in conditions]


def rows_from_data(data) -> list[dict]:
    """The rows as posted (a QueryDict), each {"field", "op", "value", "value_high"} with the
    value a list when several were sent (a multiple select). Raises RowsError when the count of
    rows is missing or out of range."""
    management = ManagementForm(data, prefix=PREFIX)
    total = management.cleaned_data.get("TOTAL_FORMS") if management.is_valid() else None
    if total is None or not 0 <= total <= MAX_CONDITIONS:
        raise RowsError(
            f"The number of conditions sent ({PREFIX}-TOTAL_FORMS) is missing or not a whole "
            f"number from 0 to {MAX_CONDITIONS}. Reload the page and build the rules again."
        )
    rows = []
    for index in range(total):
        key = f"{PREFIX}-{index}-"
        values = data.getlist(f"{key}value")
        rows.append(
            {
                "field": data.get(f"{key}field", "").strip()[:NAME_MAX_LENGTH],
                "op": data.get(f"{key}op", "").strip()[:NAME_MAX_LENGTH],
                "value": values if len(values) > 1 else (values[0] if values else ""),
                "value_high": data.get(f"{key}value_high", ""),
            }
        )
    return rows


def row_fitted(row: dict) -> dict:
    """The row after its field changed: an operator the field does not take becomes the
    field's first, and a value the new widget cannot show is dropped."""
    field = segment_field(row["field"])
    if field is None:
        return {**row, "op": ""}
    op = row["op"] if row["op"] in field.operators else field.operators[0]
    value, value_high = row["value"], row["value_high"]
    kind = value_kind(field, op)
    if kind in (ONE_CHOICE, CHOICES, YES_NO):
        offered = {key for key, _ in (BOOLEAN_CHOICES if kind == YES_NO else value_choices(field))}
        items = value if isinstance(value, list) else [value]
        kept = [item for item in items if item in offered]
        # A yes/no select always shows a value: "yes" unless "no" was chosen.
        empty = "true" if kind == YES_NO else ""
        value = kept if kind == CHOICES else (kept[0] if kept else empty)
        value_high = value_high if value_high in offered else ""
    elif isinstance(value, list):
        value = ", ".join(value)
    return {**row, "op": op, "value": value, "value_high": value_high}


def _scalar(field: SegmentField | None, value: Any) -> Any:
    if isinstance(value, list):  # a list where one value was expected: tampered
        value = value[0] if value else ""
    value = str(value).strip()
    if field is not None and field.type == BOOLEAN:
        return BOOLEAN_VALUES.get(value, value)
    return value


def condition_from_row(row: dict) -> dict:
    """A row as a condition, its values as typed (text), for ``rules_validate`` to judge."""
    field = segment_field(row["field"])
    op = row["op"]
    condition: dict[str, Any] = {"field": row["field"], "op": op}
    if op in NO_VALUE_OPERATORS:
        return condition
    value = row["value"]
    if op == BETWEEN:
        condition["value"] = [_scalar(field, value), _scalar(field, row["value_high"])]
    elif op in LIST_OPERATORS:
        items = value if isinstance(value, list) else str(value).split(",")
        condition["value"] = [_scalar(field, item) for item in items if str(item).strip()]
    else:
        condition["value"] = _scalar(field, value)
    return condition


def _stored(value: Any) -> Any:
    """A checked value as JSON keeps it: whole amounts as numbers, others as exact text."""
    if isinstance(value, list):
        return [_stored(item) for item in value]
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, str):
        return str(value)  # a TextChoices member as plain text
    return value


def _readable(message: str, condition: dict) -> str:
    """A rules message with the field's and the operator's names in words."""
    field = segment_field(condition.get("field", ""))
    if field is not None:
        message = message.replace(f"'{field.name}'", field.label)
    op = condition.get("op")
    if op:
        message = message.replace(f"'{op}'", f"“{operator_label(field, op)}”")
    return message[:1].upper() + message[1:]


class RulesCheck:
    """The rows' rules judged by ``rules_validate``: ``rules`` (values converted for storing)
    when they pass, else ``row_errors`` {row index: [message]} and ``errors`` for the rest."""

    def __init__(self, match: str, rows: list[dict]):
        self.conditions = [condition_from_row(row) for row in rows]
        self.row_errors: dict[int, list[str]] = {}
        self.errors: list[str] = []
        self.rules: dict | None = None
        if not self.conditions:
            self.rules = {}  # no rule: the segment holds the customers added by hand only
            return
        raw = {"match": match or ALL, "conditions": self.conditions}
        for message in rules_validate(raw):
            numbered = CONDITION_MESSAGE.match(message)
            if numbered and 1 <= int(numbered[1]) <= len(self.conditions):
                index = int(numbered[1]) - 1
                problem = _readable(numbered[2], self.conditions[index])
                self.row_errors.setdefault(index, []).append(problem)
            else:
                self.errors.append(message)
        if not (self.row_errors or self.errors):
            self.rules = {"match": raw["match"], "conditions": self._stored_conditions()}

    def _stored_conditions(self) -> list[dict]:
        stored = []
        for condition in self.conditions:
            field = segment_field(condition["field"])
            value = value_clean(field, condition["op"], condition.get("value"))
            stored.append(
                {**condition, "value": _stored(value)} if value is not None else condition
            )
        return stored

    @property
    def valid(self) -> bool:
        return self.rules is not None

    def problems(self) -> list[str]:
        """Every message, those of a row as "Condition N: ..."."""
        numbered = [
            f"Condition {index + 1}: {message}"
            for index, messages in sorted(self.row_errors.items())
            for message in messages
        ]
        return self.errors + numbered


def problem_target(message: str) -> str:
    """Which control of a row a message is about: "field", "op" or "value"."""
    if message.startswith(("Needs a field", "Unknown field", "Unknown key")):
        return "field"
    if "operator" in message or "does not allow" in message:
        return "op"
    return "value"


class ConditionForm(forms.Form):
    """One row of the builder: a field, how it compares ("is at least") and a value, with a
    second value for "is between". The widgets follow the field and the operator: yes/no for a
    boolean, a select of the field's choices (several for "is one of"), text otherwise."""

    field = forms.CharField(label="Field", required=False, widget=forms.Select)
    op = forms.CharField(label="Comparison", required=False, widget=forms.Select)
    value = forms.Field(label="Value", required=False)
    value_high = forms.CharField(label="and", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        raw = self.data if self.is_bound else self.initial
        name = (raw.get(self.add_prefix("field")) if self.is_bound else raw.get("field")) or ""
        op = (raw.get(self.add_prefix("op")) if self.is_bound else raw.get("op")) or ""
        self.segment_field = segment_field(name)
        self.kind = value_kind(self.segment_field, op)
        rows_url = reverse("segments:builder_rows")
        # Changing the field or the comparison redraws the rows, so the widgets fit.
        redraw = {"hx-post": rows_url, "hx-trigger": "change"}
        self.fields["field"].widget.choices = [("", "Choose a field")] + [
            (field.name, field.label) for field in segment_fields()
        ]
        self.fields["field"].widget.attrs.update(redraw)
        self.fields["op"].widget.choices = self._op_choices()
        self.fields["op"].widget.attrs.update(redraw)
        self._value_widgets(op)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        columns = [Column("field", css_class="col-md-4"), Column("op", css_class="col-md-3")]
        columns += [Column(name, css_class="col-md") for name in ("value", "value_high")]
        self.helper.layout = Layout(Row(*[c for c in columns if c.fields[0] in self.fields]))

    def _op_choices(self) -> list[tuple[str, str]]:
        field = self.segment_field
        if field is None:
            return [("", "Choose a field first")]
        return [(op, operator_label(field, op)) for op in field.operators]

    def _value_widgets(self, op: str) -> None:
        field, kind = self.segment_field, self.kind
        preview = {
            "hx-post": reverse("segments:builder_preview"),
            "hx-target": "#builder-preview",
            "hx-swap": "innerHTML",
        }
        if kind == NO_VALUE:
            del self.fields["value"], self.fields["value_high"]
            return
        if op != BETWEEN:
            del self.fields["value_high"]
        if kind in (YES_NO, ONE_CHOICE, CHOICES):
            choices = BOOLEAN_CHOICES if kind == YES_NO else value_choices(field)
            if kind == ONE_CHOICE:
                choices = [("", "Choose a value"), *choices]
            widget = forms.SelectMultiple if kind == CHOICES else forms.Select
            attrs = {**preview, "hx-trigger": "change"}
            if kind == CHOICES:
                attrs["size"] = min(len(choices), 6)
            for name in ("value", "value_high"):
                if name in self.fields:
                    self.fields[name].widget = widget(choices=choices, attrs=attrs)
            if kind == CHOICES:
                self.fields["value"].help_text = "Hold Ctrl (⌘ on a Mac) to choose several."
            return
        attrs = {**preview, "hx-trigger": "input changed delay:500ms"}
        if field is not None and field.type in (NUMBER, MONEY, INTEGER):
            attrs["inputmode"] = "numeric" if field.type == INTEGER else "decimal"
        example = field.example if field is not None else None
        if isinstance(example, list | tuple):
            example = ", ".join(str(item) for item in example)
        if example is not None and not isinstance(example, bool):
            attrs["placeholder"] = f"e.g. {example}"
        is_date = field is not None and field.type == DATE and kind == TEXT
        if is_date:  # the browser's date picker; the rules read its yyyy-mm-dd as they are
            attrs.pop("placeholder", None)
            for bound, day in (("min", field.minimum), ("max", field.maximum)):
                if day is not None:
                    attrs[bound] = str(day)
        for name in ("value", "value_high"):
            if name in self.fields:
                self.fields[name].widget = forms.TextInput(attrs=attrs)
                if is_date:
                    self.fields[name].widget.input_type = "date"
        self.fields["value"].help_text = self._hint(kind)

    def _hint(self, kind: str) -> str:
        field = self.segment_field
        hints = []
        if kind == TEXT_LIST:
            hints.append("Separate values with commas.")
        # A small range is worth saying (churn risk 0 to 1, scores 1 to 5), not a money cap.
        bounded = field is not None and all(
            isinstance(bound, int | float) for bound in (field.minimum, field.maximum)
        )
        if bounded and field.maximum <= RANGE_HINT_MAX:
            hints.append(f"From {field.minimum:,} to {field.maximum:,}.")
        if field is not None and field.display is not None and field.example is not None:
            hints.append(f"{field.example} is {field.display(field.example)}.")  # 0.7 is 70%
        if field is not None and field.help_text:
            hints.append(field.help_text)
        return " ".join(hints)

    def mark_focus(self, name: str = "field") -> None:
        """After the rows are redrawn, focus goes to this control (static/js/a11y.js)."""
        if name in self.fields:
            self.fields[name].widget.attrs["data-focus"] = True

    def add_problems(self, messages: list[str]) -> None:
        """Put the rules' messages about this row under the control each is about."""
        for message in messages:
            target = problem_target(message)
            self.add_error(target if target in self.fields else None, message)


class BaseConditionFormSet(forms.BaseFormSet):
    default_error_messages = {
        "missing_management_form": "The number of conditions sent is missing or not a "
        "number. Reload the page and build the rules again.",
        "too_many_forms": f"A segment takes at most {MAX_CONDITIONS} conditions.",
    }


ConditionFormSet = forms.formset_factory(
    ConditionForm,
    formset=BaseConditionFormSet,
    extra=0,
    max_num=MAX_CONDITIONS,
    absolute_max=MAX_CONDITIONS,
)


def condition_formset(*, rows: list[dict] | None = None, data=None) -> BaseConditionFormSet:
    """The rows as a formset: bound to posted ``data``, or drawn from ``rows``."""
    if data is not None:
        return ConditionFormSet(data, prefix=PREFIX)
    return ConditionFormSet(initial=[row_fitted(row) for row in rows or []], prefix=PREFIX)


class SegmentBuilderForm(forms.ModelForm):
    """A segment's name, description and how its conditions join (all or any); the conditions
    are the rows of ``ConditionFormSet``. A pre-built segment keeps its name. Without ``match``
    (rules the rows cannot show) the rules are left as they are."""

    match = forms.CharField(
        label="Customers match",
        required=False,
        initial=ALL,
        widget=forms.RadioSelect(choices=MATCH_CHOICES),
    )

    class Meta:
        model = Segment
        fields = ("name", "description")
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, with_match: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.rules:
            self.initial.setdefault("match", self.instance.rules.get("match", ALL))
        if self.instance.is_system:
            self.fields["name"].disabled = True
            self.fields["name"].help_text = "A pre-built segment keeps its name."
        if with_match:
            self.fields["match"].widget.attrs.update(
                {
                    "hx-post": reverse("segments:builder_preview"),
                    "hx-trigger": "change",
                    "hx-target": "#builder-preview",
                    "hx-swap": "innerHTML",
                }
            )
        else:
            del self.fields["match"]
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def clean_name(self):
        if self.fields["name"].disabled:
            return self.instance.name
        return segment_name_clean(self.cleaned_data["name"], segment=self.instance)
