from decimal import Decimal

import factory

from loyalty.models import LoyaltyAccount, LoyaltyProgram, Reward, Tier


class LoyaltyProgramFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoyaltyProgram

    name = factory.Sequence(lambda n: f"Program {n}")
    points_per_unit = Decimal("1")


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    program = factory.SubFactory(LoyaltyProgramFactory)
    name = factory.Sequence(lambda n: f"Tier {n}")
    threshold = Decimal("0")
    earn_multiplier = Decimal("1")


class RewardFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reward

    program = factory.SubFactory(LoyaltyProgramFactory)
    name = factory.Sequence(lambda n: f"Reward {n}")
    points_cost = 100
    reward_type = Reward.RewardType.AMOUNT_DISCOUNT
    value = Decimal("5.00")


class LoyaltyAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoyaltyAccount

    customer = factory.SubFactory("customers.tests.factories.CustomerFactory")
    program = factory.SubFactory(LoyaltyProgramFactory)


def standard_tiers(program):
    """Bronze 0 (x1), Silver 500 (x1.25), Gold 2000 (x1.5), Platinum 5000 (x2)."""
    return [
        TierFactory(program=program, name=name, threshold=Decimal(threshold), earn_multiplier=m)
        for name, threshold, m in (
            ("Bronze", 0, Decimal("1")),
            ("Silver", 500, Decimal("1.25")),
            ("Gold", 2000, Decimal("1.5")),
            ("Platinum", 5000, Decimal("2")),
        )
    ]
