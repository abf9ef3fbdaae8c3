"""The customer's own fields for segment rules, registered in core's segment field registry
when the app is ready (loyalty registers its own: loyalty/segment_fields.py).

Dates are compared in the shop's time zone: "days since the last order" is the number of
calendar days between the day of the order and ``today``, both as the shop's clock shows them,
and each condition becomes a comparison of the stored timestamp with the start of a day, so the
indexed columns stay usable.
"""

import calendar
from datetime import date, timedelta
from decimal import Decimal
from functools import reduce
from operator import or_

from django.db.models import Exists, OuterRef, Q, Value
from django.db.models.functions import Upper
from django_countries import countries

from core.segment_fields import (
    BETWEEN,
    BOOLEAN,
    BOOLEAN_OPERATORS,
    CHOICE,
    CHOICE_OPERATORS,
    DATE,
    DATE_OPERATORS,
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
    LT,
    LTE,
    MONEY,
    NE,
    NOT_IN,
    NULLABLE_CHOICE_OPERATORS,
    NULLABLE_NUMERIC_OPERATORS,
    NUMBER,
    NUMERIC_OPERATORS,
    STRING,
    STRING_OPERATORS,
    TAG_OPERATORS,
    TAGS,
    lookup_q,
    register_segment_field,
)
from core.visibility import NOTHING
from customers.filters import EARLIEST_DATE, LATEST_DATE
from customers.models import Address, Customer, CustomerScore, CustomerTag
from customers.sales import start_of_day

# "days since" conditions take at most a hundred years, as the customer list's filters do.
DAYS_MAX = 36_500
COUNT_MAX = 2_147_483_647
MONEY_MAX = Decimal("999999999999.99")
# birthday_month's value for "the month of today", so a saved segment follows the calendar.
CURRENT_MONTH = "current"


def percent(value) -> str:
    """0.7 as "70%": churn risk as the pages show it."""
    return f"{float(value) * 100:g}%"


def any_of(filters: list[Q]) -> Q:
    return reduce(or_, filters) if filters else NOTHING


# Days since a date ----------------------------------------------------------------------------


def days_since_q(column: str):
    """Build conditions on the calendar days between ``column``'s day and today."""

    def at_least(days: int, today: date) -> Q:  # the day is on or before today - days
        return Q(**{f"{column}__lt": start_of_day(today - timedelta(days=days - 1))})

    def at_most(days: int, today: date) -> Q:  # the day is on or after today - days
        return Q(**{f"{column}__gte": start_of_day(today - timedelta(days=days))})

    def exactly(days: int, today: date) -> Q:
        return at_least(days, today) & at_most(days, today)

    def build(op: str, value, today: date) -> Q:
        if op == IS_EMPTY:
            return Q(**{f"{column}__isnull": True})
        if op == IS_NOT_EMPTY:
            return Q(**{f"{column}__isnull": False})
        if op == EQ:
            return exactly(value, today)
        if op == NE:
            return at_most(value - 1, today) | at_least(value + 1, today)
        if op == GT:
            return at_least(value + 1, today)
        if op == GTE:
            return at_least(value, today)
        if op == LT:
            return at_most(value - 1, today)
        if op == LTE:
            return at_most(value, today)
        if op == BETWEEN:
            return at_least(value[0], today) & at_most(value[1], today)
        if op == IN:
            return any_of([exactly(days, today) for days in value])
        if op == NOT_IN:
            return Q(**{f"{column}__isnull": False}) & ~any_of(
                [exactly(days, today) for days in value]
            )
        raise ValueError(op)

    return build


# The day of a timestamp ------------------------------------------------------------------------


def day_of_q(column: str):
    """Build conditions on the day of ``column`` on the shop's clock, for dates written
    yyyy-mm-dd: "on or before 31 January" is before midnight starting 1 February, as the
    customer list's "Created to" reads it, so a day is taken whole and the index serves."""

    def on_or_after(day: date) -> Q:
        return Q(**{f"{column}__gte": start_of_day(day)})

    def before(day: date) -> Q:
        return Q(**{f"{column}__lt": start_of_day(day)})

    def on(day: date) -> Q:
        return on_or_after(day) & before(day + timedelta(days=1))

    def build(op: str, value, today: date) -> Q:
        if op in (IS_EMPTY, IS_NOT_EMPTY):
            return Q(**{f"{column}__isnull": op == IS_EMPTY})
        # The value is checked already: one yyyy-mm-dd, or a list of them.
        days = [date.fromisoformat(item) for item in value] if isinstance(value, list) else []
        day = date.fromisoformat(value) if isinstance(value, str) else None
        if op == EQ:
            return on(day)
        if op == NE:
            return before(day) | on_or_after(day + timedelta(days=1))
        if op == GT:
            return on_or_after(day + timedelta(days=1))
        if op == GTE:
            return on_or_after(day)
        if op == LT:
            return before(day)
        if op == LTE:
            return before(day + timedelta(days=1))
        if op == BETWEEN:
            return on_or_after(days[0]) & before(days[1] + timedelta(days=1))
        if op == IN:
            return any_of([on(day) for day in days])
        if op == NOT_IN:
            return Q(**{f"{column}__isnull": False}) & ~any_of([on(day) for day in days])
        raise ValueError(op)

    return build


# Birthday month -------------------------------------------------------------------------------


def month_choices() -> list[tuple[int, str]]:
    return [(month, calendar.month_name[month]) for month in range(1, 13)]


def birthday_month_q(op: str, value, today: date) -> Q:
    """The month of the date of birth; "current" is the month of ``today``."""

    def month(item):
        return today.month if item == CURRENT_MONTH else item

    if op in (IS_EMPTY, IS_NOT_EMPTY):
        return Q(date_of_birth__isnull=op == IS_EMPTY)
    value = [month(item) for item in value] if isinstance(value, list) else month(value)
    return lookup_q("date_of_birth__month", op, value)


# The default address --------------------------------------------------------------------------


def default_address_q(column: str):
    """Conditions on ``column`` of the customer's default addresses (one per kind at most;
    nearly always one). A customer matches eq/in when one of them has the value, ne/not_in when
    they have a default address with the column filled in and none has the value; is_empty
    when no default address has it filled in. Text compares without regard to case."""

    def build(op: str, value, today: date) -> Q:
        filled = Address.objects.filter(customer=OuterRef("pk"), is_default=True).exclude(
            **{column: ""}
        )
        if op in (IS_EMPTY, IS_NOT_EMPTY):
            return ~Q(Exists(filled)) if op == IS_EMPTY else Q(Exists(filled))
        values = value if isinstance(value, list) else [value]
        matching = filled.alias(key=Upper(column)).filter(
            any_of([Q(key=Upper(Value(item))) for item in values])
        )
        if op in (EQ, IN):
            return Q(Exists(matching))
        if op in (NE, NOT_IN):
            return Q(Exists(filled)) & ~Q(Exists(matching))
        raise ValueError(op)

    return build


def country_code(value: str) -> str:
    code = countries.alpha2(value.strip())
    if not code:
        raise ValueError("needs an ISO 3166 country code, such as US")
    return code


# Tags ------------------------------------------------------------------------------------------


def tags_q(op: str, value, today: date) -> Q:
    """Tags by slug: has_any, has_all, has_none; is_empty is "no tag at all"."""
    tagged = CustomerTag.objects.filter(customer=OuterRef("pk"))
    if op in (IS_EMPTY, IS_NOT_EMPTY):
        return ~Q(Exists(tagged)) if op == IS_EMPTY else Q(Exists(tagged))
    if op == HAS_ANY:
        return Q(Exists(tagged.filter(tag__slug__in=value)))
    if op == HAS_ALL:
        return reduce(lambda a, b: a & b, [Q(Exists(tagged.filter(tag__slug=s))) for s in value])
    if op == HAS_NONE:
        return ~Q(Exists(tagged.filter(tag__slug__in=value)))
    raise ValueError(op)


# RFM segment -----------------------------------------------------------------------------------


def rfm_segment_q(op: str, value, today: date) -> Q:
    """Scored segments through the indexed score copy; "Prospect" (no purchase, so no row in
    the copy) from the customer's own column, as the customer list does. Not scored yet (no
    row and no Prospect) is empty; ne/not_in match the other segments, so never the empty."""
    prospect = Customer.RfmSegment.PROSPECT
    every = [choice for choice, _ in Customer.RfmSegment.choices]

    def among(segments) -> Q:
        scored = [segment for segment in segments if segment != prospect]
        filters = []
        if scored:
            rows = CustomerScore.objects.filter(rfm_segment__in=scored).values("customer_id")
            filters.append(Q(pk__in=rows))
        if prospect in segments:
            filters.append(Q(rfm_segment=prospect))
        return any_of(filters)

    if op == IS_EMPTY:
        return ~among(every)
    if op == IS_NOT_EMPTY:
        return among(every)
    if op == EQ:
        return among([value])
    if op == IN:
        return among(value)
    if op == NE:
        return among([choice for choice in every if choice != value])
    if op == NOT_IN:
        return among([choice for choice in every if choice not in value])
    raise ValueError(op)


def register_customer_fields() -> None:
    """Register the customer's fields (called once from SegmentsConfig.ready)."""
    money = {"minimum": 0, "maximum": MONEY_MAX}
    count = {"minimum": 0, "maximum": COUNT_MAX}
    days = {"minimum": 0, "maximum": DAYS_MAX}
    score = {"minimum": 1, "maximum": 5}

    # Money and counts, kept by the delivery path.
    register_segment_field(
        "total_spent", MONEY, "Total spent", "total_spent",
        operators=NUMERIC_OPERATORS, example=500, **money,
    )  # fmt: skip
    register_segment_field(
        "order_count", INTEGER, "Order count", "order_count",
        operators=NUMERIC_OPERATORS, example=5, **count,
    )  # fmt: skip
    register_segment_field(
        "average_order_value", MONEY, "Average order value", "average_order_value",
        operators=NUMERIC_OPERATORS, example=80, **money,
    )  # fmt: skip

    # Dates, in calendar days of the shop's time zone.
    register_segment_field(
        "days_since_last_order", INTEGER, "Days since last order",
        build=days_since_q("last_order_at"), operators=NULLABLE_NUMERIC_OPERATORS,
        example=90, **days,
    )  # fmt: skip
    register_segment_field(
        "days_since_first_order", INTEGER, "Days since first order",
        build=days_since_q("first_order_at"), operators=NULLABLE_NUMERIC_OPERATORS,
        example=30, **days,
    )  # fmt: skip
    register_segment_field(
        "customer_age_days", INTEGER, "Days as a customer",
        build=days_since_q("created_at"), operators=NUMERIC_OPERATORS, example=365, **days,
    )  # fmt: skip
    register_segment_field(
        "created_at", DATE, "Created", build=day_of_q("created_at"),
        operators=DATE_OPERATORS, minimum=EARLIEST_DATE, maximum=LATEST_DATE,
        example="2026-01-31",
    )  # fmt: skip
    register_segment_field(
        "birthday_month", INTEGER, "Birthday month", build=birthday_month_q,
        operators=NULLABLE_NUMERIC_OPERATORS, minimum=1, maximum=12, choices=month_choices,
        special_values={CURRENT_MONTH: "this month"}, special_operators=(EQ, NE, IN, NOT_IN),
        example=CURRENT_MONTH,
    )  # fmt: skip

    # Profile.
    for name, label, choices, example in (
        ("customer_type", "Customer type", Customer.CustomerType, "vip"),
        ("status", "Status", Customer.Status, "active"),
        ("source", "Source", Customer.Source, "online"),
    ):
        register_segment_field(
            name, CHOICE, label, name,
            operators=CHOICE_OPERATORS, choices=lambda c=choices: c.choices, example=example,
        )  # fmt: skip
    register_segment_field(
        "city", STRING, "City", build=default_address_q("city"),
        operators=STRING_OPERATORS, example="Leeds",
    )  # fmt: skip
    register_segment_field(
        "country", STRING, "Country", build=default_address_q("country"),
        operators=STRING_OPERATORS, clean_value=country_code, example="GB",
    )  # fmt: skip

    # Tags.
    register_segment_field(
        "tags", TAGS, "Tags", build=tags_q, operators=TAG_OPERATORS, example=["vip"]
    )

    # Scores of the nightly analytics run.
    register_segment_field(
        "rfm_segment", CHOICE, "RFM segment", build=rfm_segment_q,
        operators=NULLABLE_CHOICE_OPERATORS, choices=lambda: Customer.RfmSegment.choices,
        example="Champions",
    )  # fmt: skip
    for name, label in (
        ("rfm_recency", "RFM recency score"),
        ("rfm_frequency", "RFM frequency score"),
        ("rfm_monetary", "RFM monetary score"),
    ):
        register_segment_field(
            name, INTEGER, label, name,
            operators=NULLABLE_NUMERIC_OPERATORS, example=4, **score,
        )  # fmt: skip
    register_segment_field(
        "churn_risk", NUMBER, "Churn risk", "score__churn_risk",
        operators=NULLABLE_NUMERIC_OPERATORS, minimum=0, maximum=1, example=0.7,
        display=percent,
    )  # fmt: skip
    register_segment_field(
        "predicted_clv", MONEY, "Predicted value (12 months)", "score__predicted_clv",
        operators=NULLABLE_NUMERIC_OPERATORS, example=1000, **money,
    )  # fmt: skip

    # Consent.
    for name, label in (
        ("accepts_email", "Accepts email"),
        ("accepts_sms", "Accepts SMS"),
        ("do_not_contact", "Do not contact"),
    ):
        register_segment_field(
            name, BOOLEAN, label, name, operators=BOOLEAN_OPERATORS, example=True
        )
