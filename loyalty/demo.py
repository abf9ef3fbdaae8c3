"""A running demo program: tiers, rewards and members whose balances come from the demo orders."""

import random
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from loyalty import services
from loyalty.models import LoyaltyAccount, LoyaltyProgram, Redemption, Reward

PROGRAM = "Rewards Club"

REWARDS = [
    ("Free shipping", "free_shipping", 150, "0", None),
    ("5 off your next order", "amount_discount", 250, "5", None),
    ("10% off one order", "percent_discount", 500, "10", None),
    ("Canvas tote bag", "gift", 800, "35", 40),
    ("25 cashback", "cashback", 2000, "25", None),
]


def demo_present() -> bool:
    return LoyaltyProgram.objects.filter(name=PROGRAM).exists()


def loyalty_demo_create(*, seed: int = 42) -> dict[str, int]:
    """Create the program, award the demo's delivered orders, run the nightly jobs once, and
    redeem some rewards, so balances, tiers, expiries and vouchers all look lived-in."""
    rng = random.Random(seed)
    today = timezone.localdate()
    with transaction.atomic():
        program = LoyaltyProgram.objects.create(
            name=PROGRAM,
            description="One point per unit spent. Points wait 14 days, then last a year.",
            starts_on=today - timedelta(days=800),
            points_per_unit=Decimal("1"),
            minimum_spend=Decimal("10"),
            points_expire_after_days=365,
            pending_days=14,
        )
        services.loyalty_program_default_tiers_create(program=program)
        Reward.objects.bulk_create(
            Reward(program=program, name=n, reward_type=k, points_cost=c, value=Decimal(v), stock=s)
            for n, k, c, v, s in REWARDS
        )
    earned = services.loyalty_catch_up()
    services.loyalty_nightly()
    rewards = list(program.rewards.order_by("points_cost"))
    redeemed = 0
    for account in LoyaltyAccount.objects.filter(program=program, balance__gte=150).order_by("pk"):
        if rng.random() < 0.3:
            affordable = [reward for reward in rewards if reward.points_cost <= account.balance]
            redemption = services.loyalty_reward_redeem(
                account=account, reward=rng.choice(affordable)
            )
            redeemed += 1
            if rng.random() < 0.6:
                services.loyalty_redemption_mark_used(redemption=redemption)
    return {
        "members": program.accounts.count(),
        "earns": earned,
        "redemptions": redeemed,
        "vouchers open": Redemption.objects.filter(status="issued").count(),
    }
