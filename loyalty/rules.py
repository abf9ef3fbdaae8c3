"""The points rules as pure functions of their inputs: what an order earns and which tier a value
reaches. No database access; the services and the pages share them."""

from collections.abc import Iterable
from decimal import ROUND_FLOOR, Decimal

from loyalty.models import LoyaltyProgram, Tier


def points_for(*, total: Decimal, program: LoyaltyProgram, tier: Tier | None) -> int:
    """floor(order total x points per unit x tier multiplier)."""
    multiplier = tier.earn_multiplier if tier else Decimal(1)
    return int((total * program.points_per_unit * multiplier).to_integral_value(ROUND_FLOOR))


def tier_for(tiers: Iterable[Tier], value) -> Tier | None:
    """The highest tier whose threshold the value reaches (tiers in any order)."""
    reached = [tier for tier in tiers if value >= tier.threshold]
    return max(reached, key=lambda tier: tier.threshold) if reached else None


def tier_higher(current: Tier | None, candidate: Tier | None) -> Tier | None:
    """The higher of two tiers; a tier is only lowered by the nightly run."""
    if candidate is None or (current is not None and current.threshold >= candidate.threshold):
        return current
    return candidate


def tier_threshold_above(tiers: Iterable[Tier], tier: Tier | None) -> Decimal | None:
    """The threshold of the lowest tier above ``tier`` (above nothing: the lowest tier)."""
    floor = tier.threshold if tier is not None else Decimal(-1)
    return min((other.threshold for other in tiers if other.threshold > floor), default=None)
