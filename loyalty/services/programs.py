"""Programs and membership: the default tiers of a program, and enrolment of customers."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from customers.models import Customer
from loyalty.models import LoyaltyAccount, LoyaltyProgram, Tier
from loyalty.rules import tier_for
from loyalty.services.nightly import loyalty_tiers_recompute

DEFAULT_TIERS = (
    ("Bronze", Decimal(0), Decimal("1"), "Birthday treat."),
    ("Silver", Decimal(500), Decimal("1.25"), "Free gift wrapping; early access to sales."),
    ("Gold", Decimal(2000), Decimal("1.5"), "Free shipping on every order."),
    ("Platinum", Decimal(5000), Decimal("2"), "Everything in Gold, plus a personal shopper."),
)


def loyalty_program_default_tiers_create(*, program: LoyaltyProgram) -> list[Tier]:
    """Give a program without tiers Bronze, Silver, Gold and Platinum and place its members in
    them; a program that has tiers is left alone (returns [])."""
    with transaction.atomic():
        LoyaltyProgram.objects.select_for_update().get(pk=program.pk)
        if Tier.objects.filter(program=program).exists():
            return []
        tiers = Tier.objects.bulk_create(
            Tier(program=program, name=name, threshold=threshold, earn_multiplier=m, benefits=b)
            for name, threshold, m, b in DEFAULT_TIERS
        )
        loyalty_tiers_recompute(program_ids=[program.pk])
    return tiers


def loyalty_account_enrol_check(*, customer: Customer, program: LoyaltyProgram) -> None:
    """Raise the ValidationError loyalty_account_enrol would raise; forms call it to show the
    refusal at the field before anything is saved."""
    if not customer.can_receive_loyalty:
        raise ValidationError(
            {"customer": f"{customer} has opted out of loyalty programs (can receive loyalty)."}
        )
    if not program.is_running():
        raise ValidationError({"program": f"{program} is not running today."})


def loyalty_account_enrol(*, customer: Customer, program: LoyaltyProgram) -> LoyaltyAccount:
    """Enrol a customer (staff action). Idempotent: an existing account is returned as it is."""
    existing = LoyaltyAccount.objects.filter(customer=customer, program=program).first()
    if existing is not None:
        return existing
    loyalty_account_enrol_check(customer=customer, program=program)
    account, _ = LoyaltyAccount.objects.get_or_create(
        customer=customer,
        program=program,
        defaults={"tier": tier_for(program.tiers.all(), 0)},
    )
    return account
