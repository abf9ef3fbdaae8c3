"""The fields a segment rule can test, registered by the apps that own the data.

``segments`` compiles and validates rules, but the fields come from below it: segments registers
the customer's own fields, loyalty registers the loyalty tier and the points balance, each from
its ``AppConfig.ready()``, so segments never names another app's data and loyalty never imports
segments::

    from core.segment_fields import NUMERIC_OPERATORS, INTEGER, register_segment_field

    register_segment_field(
        name="points_balance",
        type=INTEGER,
        label="Points balance",
        build=points_balance_q,          # (op, value, today) -> Q over customers
        operators=NUMERIC_OPERATORS,
    )

A field either names an ORM ``lookup`` path from the customer ("total_spent", "score__churn_risk"),
which ``lookup_q`` turns into a filter, or gives a ``build`` function for anything else (a
subquery, a date computed from today). Either way the value reaching it is already checked and
converted (Decimal for money, int, bool, str, a date as its ISO text, or a list of those).

NULL semantics, the same for every field (SQL's own reading): a customer with no value (NULL, a
blank text, no such row) matches ``is_empty`` and nothing else; ``ne`` and ``not_in`` match only
customers who have a value, and a different one.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db.models import Expression, Q
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
)

# Value types: how a condition's value is read and checked.
NUMBER = "number"  # a decimal number, such as churn risk 0.7
MONEY = "money"  # an amount, read as Decimal
INTEGER = "integer"  # a whole number (counts, days, scores 1-5)
BOOLEAN = "boolean"  # true or false
CHOICE = "choice"  # one of the field's choices
STRING = "string"  # text, compared without regard to case where the field says so
TAGS = "tags"  # tag slugs
# A calendar day, written yyyy-mm-dd (ISO 8601). A lookup path suits a date column; a timestamp
# needs a build function that reads its day on the shop's clock (segments/fields.py).
DATE = "date"
TYPES = (NUMBER, MONEY, INTEGER, BOOLEAN, CHOICE, STRING, TAGS, DATE)

# Operators.
EQ, NE, GT, GTE, LT, LTE = "eq", "ne", "gt", "gte", "lt", "lte"
BETWEEN, IN, NOT_IN = "between", "in", "not_in"
IS_EMPTY, IS_NOT_EMPTY = "is_empty", "is_not_empty"
HAS_ANY, HAS_ALL, HAS_NONE = "has_any", "has_all", "has_none"
OPERATORS = (
    EQ,
    NE,
    GT,
    GTE,
    LT,
    LTE,
    BETWEEN,
    IN,
    NOT_IN,
    IS_EMPTY,
    IS_NOT_EMPTY,
    HAS_ANY,
    HAS_ALL,
    HAS_NONE,
)
LIST_OPERATORS = (IN, NOT_IN, HAS_ANY, HAS_ALL, HAS_NONE)  # the value is a list
NO_VALUE_OPERATORS = (IS_EMPTY, IS_NOT_EMPTY)  # the value is ignored

# The usual sets; a field may declare any subset of OPERATORS.
COMPARISONS = (EQ, NE, GT, GTE, LT, LTE, BETWEEN, IN, NOT_IN)
EMPTINESS = (IS_EMPTY, IS_NOT_EMPTY)
NUMERIC_OPERATORS = COMPARISONS
NULLABLE_NUMERIC_OPERATORS = COMPARISONS + EMPTINESS
CHOICE_OPERATORS = (EQ, NE, IN, NOT_IN)
NULLABLE_CHOICE_OPERATORS = CHOICE_OPERATORS + EMPTINESS
STRING_OPERATORS = (EQ, NE, IN, NOT_IN, *EMPTINESS)
BOOLEAN_OPERATORS = (EQ, NE)
TAG_OPERATORS = (HAS_ANY, HAS_ALL, HAS_NONE, *EMPTINESS)
DATE_OPERATORS = COMPARISONS

Build = Callable[[str, Any, date], Q]


@dataclass(frozen=True)
class SegmentField:
    """A field rules can test. ``choices`` returns (value, label) pairs; ``special_values``
    maps a value the field accepts beside its type ("current" for the birthday month) to the
    words that describe it, with the operators it may go with."""

    name: str
    type: str
    label: str
    operators: tuple[str, ...]
    lookup: str = ""
    build: Build | None = None
    choices: Callable[[], Sequence[tuple[Any, str]]] | None = None
    minimum: int | float | date | None = None  # a date for a DATE field
    maximum: int | float | date | None = None
    special_values: Mapping[str, str] = field(default_factory=dict)
    special_operators: tuple[str, ...] = ()
    # Checks and converts one value beyond its type (an ISO country code); raises ValueError
    # with the end of the message ("needs an ISO 3166 country code, such as US").
    clean_value: Callable[[Any], Any] | None = None
    example: Any = None
    help_text: str = ""
    # How a value reads in a rule's summary, when not as written (a 0..1 risk as a percentage).
    display: Callable[[Any], str] | None = None

    def q(self, op: str, value: Any, today: date) -> Q:
        """The filter over customers for this field, an operator and a checked value."""
        if self.build is not None:
            return self.build(op, value, today)
        return lookup_q(self.lookup, op, value, blank=self.type in (STRING, CHOICE))


_fields: dict[str, SegmentField] = {}


def register_segment_field(
    name: str,
    type: str,
    label: str,
    lookup: str = "",
    *,
    build: Build | None = None,
    operators: Sequence[str],
    **options: Any,
) -> SegmentField:
    """Make a field available to segment rules. Registering a name again replaces it (a reload
    in development); a field needs a lookup path or a build function, and known operators."""
    if type not in TYPES:
        raise ValueError(f"Segment field {name!r}: unknown type {type!r}.")
    if bool(lookup) == (build is not None):
        raise ValueError(f"Segment field {name!r}: give a lookup path or a build function.")
    unknown = [op for op in operators if op not in OPERATORS]
    if unknown or not operators:
        raise ValueError(f"Segment field {name!r}: unknown operators {unknown!r}.")
    if type == CHOICE and options.get("choices") is None:
        raise ValueError(f"Segment field {name!r}: a choice field needs its choices.")
    registered = SegmentField(
        name=name,
        type=type,
        label=label,
        lookup=lookup,
        build=build,
        operators=tuple(operators),
        **options,
    )
    _fields[name] = registered
    return registered


def segment_field(name: str) -> SegmentField | None:
    """The registered field of that name, or None."""
    return _fields.get(name)


def segment_fields() -> list[SegmentField]:
    """Every registered field, in the order they were registered."""
    return list(_fields.values())


# Filters -----------------------------------------------------------------------------------------


def lookup_q(path: str, op: str, value: Any, *, blank: bool = False) -> Q:
    """The filter for ``path`` (an ORM path from the customer) and an operator. With ``blank``,
    a blank text counts as no value. No value never matches ne or not_in (see the module)."""
    if op == IS_EMPTY:
        empty = Q(**{f"{path}__isnull": True})
        return empty | Q(**{path: ""}) if blank else empty
    has_value = Q(**{f"{path}__isnull": False})
    if blank:
        has_value &= ~Q(**{path: ""})
    if op == IS_NOT_EMPTY:
        return has_value
    if op == EQ:
        return Q(**{path: value})
    if op == NE:
        return has_value & ~Q(**{path: value})
    if op in (GT, GTE, LT, LTE):
        return Q(**{f"{path}__{op}": value})
    if op == BETWEEN:
        low, high = value
        return Q(**{f"{path}__gte": low, f"{path}__lte": high})
    if op == IN:
        return Q(**{f"{path}__in": value})
    if op == NOT_IN:
        return has_value & ~Q(**{f"{path}__in": value})
    raise ValueError(f"{path}: operator {op!r} has no filter here.")


def expression_q(expression: Expression, op: str, value: Any) -> Q:
    """The filter for a computed value (a subquery), with the semantics of ``lookup_q``."""
    has_value = Q(IsNull(expression, False))
    if op == IS_EMPTY:
        return Q(IsNull(expression, True))
    if op == IS_NOT_EMPTY:
        return has_value
    if op == EQ:
        return Q(Exact(expression, value))
    if op == NE:
        return Q(LessThan(expression, value)) | Q(GreaterThan(expression, value))
    comparison = {GT: GreaterThan, GTE: GreaterThanOrEqual, LT: LessThan, LTE: LessThanOrEqual}
    if op in comparison:
        return Q(comparison[op](expression, value))
    if op == BETWEEN:
        low, high = value
        return Q(GreaterThanOrEqual(expression, low)) & Q(LessThanOrEqual(expression, high))
    if op == IN:
        return Q(In(expression, list(value)))
    if op == NOT_IN:
        return has_value & ~Q(In(expression, list(value)))
    raise ValueError(f"Operator {op!r} has no filter for a computed value.")
