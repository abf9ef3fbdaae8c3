"""Loyalty programs, tiers and rewards in and out; the ledger out only."""

from decimal import Decimal
from pathlib import Path

import pytest
import tablib

from loyalty.models import LoyaltyProgram, Reward, Tier
from loyalty.resources import (
    LoyaltyProgramResource,
    LoyaltyTransactionResource,
    RewardResource,
    TierResource,
)
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory, standard_tiers

DATA = Path(__file__).parent / "data"

pytestmark = pytest.mark.django_db


def load(text: str) -> tablib.Dataset:
    return tablib.Dataset().load(text, format="csv")


def problems(resource, result) -> list[str]:
    return [str(problem) for problem in resource.problems(result)]


def test_programs_are_created_then_updated_then_unchanged():
    rows = (
        "name,points_per_unit,minimum_spend,tier_basis,is_active\nClub,1.5,10,lifetime_points,yes\n"
    )

    created = LoyaltyProgramResource().import_data(load(rows))
    updated = LoyaltyProgramResource().import_data(load(rows.replace("1.5", "2")))
    unchanged = LoyaltyProgramResource().import_data(load(rows.replace("1.5", "2")))

    assert created.totals["new"] == 1
    assert updated.totals["update"] == 1
    assert unchanged.totals["skip"] == 1
    assert LoyaltyProgram.objects.get(name="Club").points_per_unit == Decimal("2")


def test_rewards_with_errors_name_row_and_column_and_write_nothing():
    LoyaltyProgramFactory(name="Club")
    resource = RewardResource()

    result = resource.import_data(load((DATA / "rewards.csv").read_text()))

    found = problems(resource, result)
    assert any(line.startswith("row 4, reward_type:") for line in found)
    assert any(line.startswith("row 4, is_active:") for line in found)
    assert any(line.startswith("row 5, program:") for line in found)
    assert not Reward.objects.exists()


def test_tiers_and_rewards_round_trip_without_changes():
    program = LoyaltyProgramFactory(name="Club")
    standard_tiers(program)
    RewardFactory(program=program, name="Five off")
    for resource_class in (LoyaltyProgramResource, TierResource, RewardResource):
        exported = resource_class().export()

        again = resource_class().import_data(load(exported.csv), dry_run=True)

        assert problems(resource_class(), again) == []
        assert again.totals["new"] == again.totals["update"] == 0, resource_class
    assert Tier.objects.count() == 4


def test_the_ledger_exports_and_is_never_imported(assert_queries):
    from customers.tests.factories import CustomerFactory
    from loyalty.services import loyalty_account_enrol, loyalty_points_adjust

    program = LoyaltyProgramFactory(name="Club")
    for number in range(3):
        account = loyalty_account_enrol(
            customer=CustomerFactory(external_id=f"c-{number}"), program=program
        )
        loyalty_points_adjust(account=account, points=10, reason="Welcome", created_by=None)

    with assert_queries(1):
        exported = LoyaltyTransactionResource().export()

    assert len(exported) == 3
    assert set(exported["customer"]) == {"c-0", "c-1", "c-2"}
    assert set(exported["program"]) == {"Club"}
    with pytest.raises(NotImplementedError):
        LoyaltyTransactionResource().import_data(exported)
