"""The nightly run: pending points released, old points expired, tiers recomputed."""

from collections.abc import Callable, Iterable
from datetime import datetime

from django.db import transaction
from django.db.models import BigIntegerField, Case, F, Q, QuerySet, Value, When
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from loyalty.models import LoyaltyAccount, LoyaltyProgram, LoyaltyTransaction, PointLot
from loyalty.selectors import tier_value_expression
from loyalty.services.ledger import LotChange, ledger_post

Kind = LoyaltyTransaction.Kind


def _each_account_with(lots: QuerySet[PointLot], post: Callable) -> int:
    """For each account with lots in ``lots``, in its own transaction: lock the account, then
    its lots still in ``lots``, and hand both to ``post`` (which writes through ledger_post).
    Returns how many accounts had any."""
    account_ids = sorted(set(lots.values_list("account_id", flat=True).distinct()))
    touched = 0
    for account_id in account_ids:
        with transaction.atomic():
            account = LoyaltyAccount.objects.select_for_update().get(pk=account_id)
            locked = list(lots.select_for_update().filter(account_id=account_id))
            if locked:
                post(account, locked)
                touched += 1
    return touched


def loyalty_points_release(*, now: datetime | None = None) -> int:
    """Make pending points spendable once their return window is over. Returns accounts touched."""
    now = now or timezone.now()
    due = PointLot.objects.filter(released=False, available_at__lte=now)
    return _each_account_with(due, lambda account, lots: ledger_post(account=account, release=lots))


def loyalty_points_expire(*, now: datetime | None = None) -> int:
    """Zero what is left of lots past their expiry: one expire row per account per run.
    Running it twice expires once. Returns the number of accounts with points expired."""
    now = now or timezone.now()

    def expire(account: LoyaltyAccount, lots: list[PointLot]) -> None:
        points = sum(lot.remaining for lot in lots)
        expiry = LoyaltyTransaction(
            kind=Kind.EXPIRE,
            points=-points,
            description=f"{points} points expired",
            created_at=now,
        )
        ledger_post(
            account=account,
            rows=[expiry],
            changes=[LotChange(lot=lot, points=-lot.remaining) for lot in lots],
        )

    expired = PointLot.objects.filter(remaining__gt=0, expires_at__lte=now)
    return _each_account_with(expired, expire)


def loyalty_tiers_recompute(
    *, now: datetime | None = None, program_ids: Iterable[int] | None = None
) -> int:
    """Set every account's tier from its program's basis, up or down, set-based per program.
    Spending points never lowers a tier: the bases count points earned, not the balance.
    Returns how many accounts changed tier."""
    now = now or timezone.now()
    changed = 0
    programs = LoyaltyProgram.objects.prefetch_related("tiers")
    if program_ids is not None:
        programs = programs.filter(pk__in=list(program_ids))
    for program in programs:
        tiers = sorted(program.tiers.all(), key=lambda tier: tier.threshold, reverse=True)
        if not tiers:
            continue
        value = tier_value_expression(now, basis=program.tier_basis)
        new_tier = Case(
            *[
                When(GreaterThanOrEqual(value, tier.threshold), then=Value(tier.pk))
                for tier in tiers
            ],
            default=Value(None),
            output_field=BigIntegerField(),
        )
        accounts = LoyaltyAccount.objects.filter(program=program).annotate(new_tier=new_tier)
        stale = accounts.filter(
            Q(tier__isnull=True, new_tier__isnull=False)
            | Q(tier__isnull=False, new_tier__isnull=True)
            | ~Q(tier_id=F("new_tier"))
        )
        changed += LoyaltyAccount.objects.filter(pk__in=stale.values("pk")).update(tier=new_tier)
    return changed


def loyalty_nightly(*, now: datetime | None = None) -> dict[str, int]:
    """Release, expire, recompute tiers: the nightly run, safe to run twice."""
    now = now or timezone.now()
    return {
        "released": loyalty_points_release(now=now),
        "expired": loyalty_points_expire(now=now),
        "tiers_changed": loyalty_tiers_recompute(now=now),
    }
