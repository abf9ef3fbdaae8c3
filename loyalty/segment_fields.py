"""Loyalty's fields for segment rules, registered in core's registry from LoyaltyConfig.ready()
(segments reads them from there; loyalty does not import segments).

- ``loyalty_tier``: the name of a tier the customer holds in one of their accounts (one per
  program), compared without regard to case. eq/in: some account holds that tier; ne/not_in:
  the customer holds a tier and none of that name; is_empty: no account with a tier.
- ``points_balance``: the spendable points of all the customer's accounts together. A
  customer without an account has no balance: is_empty, and no comparison matches them.
"""

from datetime import date
from functools import reduce
from operator import or_

from django.db.models import Exists, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Upper

from core.segment_fields import (
    EQ,
    IN,
    INTEGER,
    IS_EMPTY,
    IS_NOT_EMPTY,
    NE,
    NOT_IN,
    NULLABLE_NUMERIC_OPERATORS,
    STRING,
    STRING_OPERATORS,
    expression_q,
    register_segment_field,
)
from loyalty.models import LoyaltyAccount

POINTS_MAX = 2_147_483_647


def loyalty_tier_q(op: str, value, today: date) -> Q:
    tiered = LoyaltyAccount.objects.filter(customer=OuterRef("pk"), tier__isnull=False)
    if op in (IS_EMPTY, IS_NOT_EMPTY):
        return ~Q(Exists(tiered)) if op == IS_EMPTY else Q(Exists(tiered))
    names = value if isinstance(value, list) else [value]
    named = tiered.alias(tier_key=Upper("tier__name")).filter(
        reduce(or_, [Q(tier_key=Upper(Value(name))) for name in names])
    )
    if op in (EQ, IN):
        return Q(Exists(named))
    if op in (NE, NOT_IN):
        return Q(Exists(tiered)) & ~Q(Exists(named))
    raise ValueError(op)


def points_balance_q(op: str, value, today: date) -> Q:
    balance = Subquery(
        LoyaltyAccount.objects.filter(customer=OuterRef("pk"))
        .order_by()
        .values("customer")
        .annotate(points=Sum("balance"))
        .values("points"),
        output_field=IntegerField(),
    )
    return expression_q(balance, op, value)


def register_loyalty_fields() -> None:
    register_segment_field(
        "loyalty_tier",
        STRING,
        "Loyalty tier",
        build=loyalty_tier_q,
        operators=STRING_OPERATORS,
        example="Gold",
    )
    register_segment_field(
        "points_balance",
        INTEGER,
        "Points balance",
        build=points_balance_q,
        operators=NULLABLE_NUMERIC_OPERATORS,
        minimum=0,
        maximum=POINTS_MAX,
        example=500,
    )
