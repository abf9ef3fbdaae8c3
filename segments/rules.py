"""Segment rules: their shape, their validation, their filter and their summary in words.

A rule is JSON::

    {"match": "all", "conditions": [
        {"field": "total_spent", "op": "gte", "value": 500},
        {"match": "any", "conditions": [
            {"field": "days_since_last_order", "op": "gt", "value": 90},
            {"field": "tags", "op": "has_any", "value": ["vip"]},
        ]},
    ]}

"all" joins the conditions with AND, "any" with OR; a condition is a field, an operator and a
value, or a group of the same shape (up to ``MAX_DEPTH`` levels). Conditions are numbered from
1, nested ones as "2.1". The fields come from core's registry (core/segment_fields.py); which
operators each allows and what its value must be is declared there. Empty rules (``{}``, or no
conditions) are no rule: the segment holds its manual members only. docs/segments.md has the
whole vocabulary and the NULL semantics.
"""

import math
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import reduce
from operator import and_, or_
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from core.segment_fields import (
    BETWEEN,
    BOOLEAN,
    CHOICE,
    DATE,
    EQ,
    GT,
    GTE,
    HAS_ALL,
    HAS_ANY,
    HAS_NONE,
    IN,
    INTEGER,
    IS_EMPTY,
    IS_NOT_EMPTY,
    LIST_OPERATORS,
    LT,
    LTE,
    MONEY,
    NE,
    NO_VALUE_OPERATORS,
    NOT_IN,
    NUMBER,
    OPERATORS,
    STRING,
    TAGS,
    SegmentField,
    segment_field,
)
from core.visibility import NOTHING

ALL, ANY = "all", "any"
MAX_DEPTH = 5  # levels of groups, the rule itself included
MAX_VALUES = 1000  # values in one in/not_in/has_* list
TEXT_MAX_LENGTH = 200
MONEY_PLACES = 2
DATE_EXAMPLE = "2026-01-31"
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
GROUP_KEYS = {"match", "conditions"}
CONDITION_KEYS = {"field", "op", "value"}


class RuleError(ValueError):
    """One problem with one condition's value; the message names the field, not the number."""


# Validation ------------------------------------------------------------------------------------


def rules_validate(rules: Any) -> list[str]:
    """Every problem with ``rules``, as messages naming the condition ("condition 2.1: ..."),
    or [] when the rules are valid. Needs no database."""
    if rules is None or rules == {}:
        return []
    if not isinstance(rules, dict):
        return ["The rules must be an object with 'match' and 'conditions'."]
    errors: list[str] = []
    _group_check(rules, "", 1, errors)
    return errors


def rules_clean(rules: Any) -> Any:
    """``rules`` if valid; otherwise raises ValidationError with every message."""
    errors = rules_validate(rules)
    if errors:
        raise ValidationError(errors, code="invalid_rules")
    return rules


def _where(number: str) -> str:
    return f"condition {number}: " if number else ""


def _group_check(group: dict, number: str, depth: int, errors: list[str]) -> None:
    where = _where(number)
    for key in sorted(set(group) - GROUP_KEYS):
        errors.append(f"{where}unknown key '{key}'")
    if group.get("match", ALL) not in (ALL, ANY):
        errors.append(f"{where}'match' must be 'all' or 'any'")
    conditions = group.get("conditions", [])
    if not isinstance(conditions, list):
        errors.append(f"{where}'conditions' must be a list")
        return
    if number and not conditions:
        errors.append(f"{where}the group has no conditions")
    for index, condition in enumerate(conditions, 1):
        inner = f"{number}.{index}" if number else str(index)
        if not isinstance(condition, dict):
            errors.append(
                f"condition {inner}: must be an object with 'field', 'op' and 'value', "
                "or a group with 'match' and 'conditions'"
            )
        elif "conditions" in condition or "match" in condition:
            if depth >= MAX_DEPTH:
                errors.append(f"condition {inner}: groups nest at most {MAX_DEPTH} levels deep")
            else:
                _group_check(condition, inner, depth + 1, errors)
        else:
            message = _condition_error(condition)
            if message:
                errors.append(f"condition {inner}: {message}")


def _condition_error(condition: dict) -> str:
    unknown = sorted(set(condition) - CONDITION_KEYS)
    if unknown:
        return f"unknown key '{unknown[0]}'"
    name = condition.get("field")
    if not isinstance(name, str) or not name:
        return "needs a field"
    field = segment_field(name)
    if field is None:
        return f"unknown field '{name}'"
    op = condition.get("op")
    if not isinstance(op, str) or not op:
        return f"'{name}' needs an operator"
    if op not in OPERATORS:
        return f"unknown operator '{op}'"
    if op not in field.operators:
        return f"'{name}' does not allow '{op}'"
    try:
        value_clean(field, op, condition.get("value"))
    except RuleError as error:
        return str(error)
    return ""


def value_clean(field: SegmentField, op: str, value: Any) -> Any:
    """A condition's value checked and converted for ``field`` and ``op``: Decimal for money,
    float for a number, int, bool, str, a date as its ISO text (yyyy-mm-dd, so the result
    stays JSON), a [low, high] pair for between, a list for the list operators, None for
    is_empty/is_not_empty. Raises RuleError."""
    if op in NO_VALUE_OPERATORS:
        return None
    if op == BETWEEN:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise RuleError("'between' needs two values, lowest first")
        low, high = (_scalar_clean(field, op, item) for item in value)
        if _special(field, low) or _special(field, high) or low > high:
            raise RuleError("'between' needs two values, lowest first")
        return [low, high]
    if op in LIST_OPERATORS:
        if not isinstance(value, list | tuple) or not value:
            raise RuleError(f"'{op}' needs a list of values")
        if len(value) > MAX_VALUES:
            raise RuleError(f"'{op}' takes at most {MAX_VALUES:,} values")
        return [_scalar_clean(field, op, item) for item in value]
    return _scalar_clean(field, op, value)


def _special(field: SegmentField, value: Any) -> bool:
    return isinstance(value, str) and value in field.special_values


def _range_text(field: SegmentField, noun: str) -> str:
    low, high = field.minimum, field.maximum
    if low is not None and high is not None:
        return f"'{field.name}' needs {noun} from {low:,} to {high:,}"
    if low is not None:
        return f"'{field.name}' needs {noun} of at least {low:,}"
    return f"'{field.name}' needs {noun} of at most {high:,}"


def _in_range(field: SegmentField, number) -> bool:
    return (field.minimum is None or number >= field.minimum) and (
        field.maximum is None or number <= field.maximum
    )


def _scalar_clean(field: SegmentField, op: str, value: Any) -> Any:
    name = field.name
    if _special(field, value):
        if op not in field.special_operators:
            allowed = ", ".join(field.special_operators)
            raise RuleError(f"'{name}' allows '{value}' only with {allowed}")
        return value
    if field.type in (NUMBER, MONEY):
        number = _decimal(value)
        if number is None:
            raise RuleError(f"'{name}' needs a number")
        if field.type == MONEY and number.as_tuple().exponent < -MONEY_PLACES:
            raise RuleError(f"'{name}' needs an amount with at most {MONEY_PLACES} decimals")
        if not _in_range(field, number):
            raise RuleError(_range_text(field, "a number"))
        return number if field.type == MONEY else float(number)
    if field.type == INTEGER:
        number = _integer(value)
        if number is None:
            raise RuleError(f"'{name}' needs a whole number")
        if not _in_range(field, number):
            raise RuleError(_range_text(field, "a whole number"))
        return number
    if field.type == DATE:
        day = _date(value)
        if day is None:
            raise RuleError(f"'{name}' needs a date such as {DATE_EXAMPLE}")
        if not _in_range(field, day):
            low, high = field.minimum, field.maximum
            if low is not None and high is not None:
                raise RuleError(f"'{name}' needs a date from {low} to {high}")
            bound = f"on or after {low}" if low is not None else f"on or before {high}"
            raise RuleError(f"'{name}' needs a date {bound}")
        return day.isoformat()
    if field.type == BOOLEAN:
        if not isinstance(value, bool):
            raise RuleError(f"'{name}' needs true or false")
        return value
    if field.type == CHOICE:
        choices = [choice for choice, _ in field.choices()]
        if value not in choices or isinstance(value, bool):
            raise RuleError(f"'{name}' needs one of {', '.join(str(c) for c in choices)}")
        return value
    if field.type in (STRING, TAGS):
        noun = "tag slugs" if field.type == TAGS else "a text"
        if not isinstance(value, str) or not value.strip() or "\x00" in value:
            raise RuleError(f"'{name}' needs {noun}")
        if len(value) > TEXT_MAX_LENGTH:
            raise RuleError(f"'{name}' needs {noun} of at most {TEXT_MAX_LENGTH} characters")
        value = value.strip()
        if field.clean_value is not None:
            try:
                value = field.clean_value(value)
            except ValueError as error:
                raise RuleError(f"'{name}' {error}") from error
        return value
    raise RuleError(f"'{name}' has an unknown type")


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float):
        return Decimal(str(value))
    if isinstance(value, str) and len(value) <= 40:
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _date(value: Any) -> date | None:
    """A day written yyyy-mm-dd (the form a date input sends), else None."""
    if not isinstance(value, str) or not ISO_DATE.fullmatch(value.strip()):
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) <= 20:
        return int(value.strip())
    return None


# The filter ------------------------------------------------------------------------------------


def rules_q(rules: Any, today: date | None = None) -> Q:
    """The filter over customers that ``rules`` describe, for one ORM query (subqueries, no
    loop over customers). ``today`` (default: today in the shop's time zone) anchors "days
    since" and "this month". No rule matches no customer. Raises ValidationError for invalid
    rules."""
    rules_clean(rules)
    if not rules or not rules.get("conditions"):
        return NOTHING
    return _group_q(rules, today or timezone.localdate())


def _group_q(group: dict, today: date) -> Q:
    filters = [
        _group_q(condition, today)
        if "conditions" in condition or "match" in condition
        else _condition_q(condition, today)
        for condition in group["conditions"]
    ]
    return reduce(or_ if group.get("match", ALL) == ANY else and_, filters)


def _condition_q(condition: dict, today: date) -> Q:
    field = segment_field(condition["field"])
    op = condition["op"]
    return field.q(op, value_clean(field, op, condition.get("value")), today)


# In words -------------------------------------------------------------------------------------

SYMBOLS = {EQ: "=", NE: "≠", GT: ">", GTE: "≥", LT: "<", LTE: "≤"}
WORDS = {EQ: "is", NE: "is not"}
DATE_WORDS = {
    EQ: "on",
    NE: "not on",
    GT: "after",
    GTE: "on or after",
    LT: "before",
    LTE: "on or before",
    IN: "on one of",
    NOT_IN: "on none of",
}
LIST_WORDS = {
    IN: "is one of",
    NOT_IN: "is none of",
    HAS_ANY: "include any of",
    HAS_ALL: "include all of",
    HAS_NONE: "include none of",
}


def rules_describe(rules: Any) -> str:
    """The rules in words: "Total spent ≥ 500 and days since last order > 90"; nested groups
    in parentheses, "any" as "or". Invalid rules are described as far as they can be."""
    if not isinstance(rules, dict) or not rules.get("conditions"):
        return "No conditions"
    text = _group_text(rules, nested=False)
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char.upper() + text[index + 1 :]
    return text


def _group_text(group: dict, nested: bool) -> str:
    conditions = group.get("conditions") or []
    if not isinstance(conditions, list):
        return "?"
    joiner = " or " if group.get("match") == ANY else " and "
    parts = []
    for condition in conditions:
        if isinstance(condition, dict) and ("conditions" in condition or "match" in condition):
            parts.append(_group_text(condition, nested=True))
        else:
            parts.append(_condition_text(condition))
    text = joiner.join(parts)
    return f"({text})" if nested and len(parts) > 1 else text


def _label(field: SegmentField | None, name: str) -> str:
    label = field.label if field else name
    # "Total spent" reads "total spent" mid-sentence; "RFM segment" keeps its capitals.
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


def _value_text(field: SegmentField | None, value: Any) -> str:
    if field is None:
        return str(value)
    if _special(field, value):
        return field.special_values[value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field.type == DATE:
        day = _date(value)
        return f"{day.day} {day:%b %Y}" if day else str(value)
    if field.display is not None:
        try:
            return field.display(value)
        except (TypeError, ValueError):
            return str(value)
    if field.choices is not None:
        labels = {str(choice): label for choice, label in field.choices()}
        if str(value) in labels:
            return str(labels[str(value)])
    return str(value)


def _condition_text(condition: Any) -> str:
    if not isinstance(condition, dict):
        return "?"
    name = str(condition.get("field", "?"))
    field = segment_field(name)
    op = condition.get("op")
    value = condition.get("value")
    label = _label(field, name)
    if op == IS_EMPTY:
        return f"{label} is empty"
    if op == IS_NOT_EMPTY:
        return f"{label} is not empty"
    if op == BETWEEN and isinstance(value, list | tuple) and len(value) == 2:
        low, high = (_value_text(field, item) for item in value)
        return f"{label} between {low} and {high}"
    if field is not None and field.type == DATE and op in DATE_WORDS:
        if isinstance(value, list | tuple):
            value_text = ", ".join(_value_text(field, item) for item in value)
        else:
            value_text = _value_text(field, value)
        return f"{label} {DATE_WORDS[op]} {value_text}"
    if op in LIST_WORDS and isinstance(value, list | tuple):
        items = ", ".join(_value_text(field, item) for item in value)
        return f"{label} {LIST_WORDS[op]} {items}"
    worded = field is not None and (
        field.type in (CHOICE, BOOLEAN, STRING) or field.choices is not None
    )
    if op in WORDS and worded:
        return f"{label} {WORDS[op]} {_value_text(field, value)}"
    return f"{label} {SYMBOLS.get(op, str(op))} {_value_text(field, value)}"
