"""loyalty/segment_fields.py: the loyalty tier and the points balance as segment rule fields,
read through core's registry (loyalty knows nothing of segments)."""

from datetime import date

import pytest

from core.segment_fields import segment_field
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from loyalty.tests.factories import LoyaltyAccountFactory, LoyaltyProgramFactory, TierFactory

pytestmark = pytest.mark.django_db

TODAY = date(2024, 2, 29)


def matched(field: str, op: str, value=None) -> set[str]:
    filter_q = segment_field(field).q(op, value, TODAY)
    return set(Customer.objects.filter(filter_q).values_list("first_name", flat=True))


@pytest.fixture
def accounts():
    club, summer = LoyaltyProgramFactory(), LoyaltyProgramFactory()
    gold = TierFactory(program=club, name="Gold", threshold=2000)
    silver = TierFactory(program=summer, name="Silver", threshold=500)
    two = CustomerFactory(first_name="two programs")
    LoyaltyAccountFactory(customer=two, program=club, tier=gold, balance=250)
    LoyaltyAccountFactory(customer=two, program=summer, tier=silver, balance=250)
    LoyaltyAccountFactory(customer=CustomerFactory(first_name="silver"), program=summer,
                          tier=silver, balance=499)  # fmt: skip
    LoyaltyAccountFactory(customer=CustomerFactory(first_name="untiered"), program=club)
    CustomerFactory(first_name="no account")


def test_both_fields_are_registered_by_loyalty():
    assert segment_field("loyalty_tier").type == "string"
    assert segment_field("points_balance").type == "integer"
    assert "between" in segment_field("points_balance").operators


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("eq", "GOLD", {"two programs"}),
        ("in", ["silver"], {"two programs", "silver"}),
        ("ne", "Gold", {"silver"}),
        ("not_in", ["Silver"], set()),
        ("is_empty", None, {"untiered", "no account"}),
        ("is_not_empty", None, {"two programs", "silver"}),
    ],
)
def test_loyalty_tier_is_any_account_tier_by_name(accounts, op, value, expected):
    assert matched("loyalty_tier", op, value) == expected


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("gte", 500, {"two programs"}),  # 250 + 250 across programs
        ("lt", 500, {"silver", "untiered"}),
        ("eq", 0, {"untiered"}),
        ("ne", 499, {"two programs", "untiered"}),
        ("between", [0, 499], {"silver", "untiered"}),
        ("in", [499, 500], {"two programs", "silver"}),
        ("not_in", [0], {"two programs", "silver"}),
        ("is_empty", None, {"no account"}),
        ("is_not_empty", None, {"two programs", "silver", "untiered"}),
    ],
)
def test_points_balance_adds_up_the_accounts(accounts, op, value, expected):
    assert matched("points_balance", op, value) == expected
