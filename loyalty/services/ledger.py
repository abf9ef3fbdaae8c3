"""The one posting function of the loyalty ledger, the planning of lot consumption that feeds
it, and staff adjustments.

Every movement of points (earn, redeem, reverse, adjust, expire, release) is written by
``ledger_post``; no other code writes an account's balance, pending_points, lifetime_earned or
lifetime_redeemed.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from loyalty.models import LoyaltyAccount, LoyaltyTransaction, PointLot, Tier

Kind = LoyaltyTransaction.Kind


class _Unchanged:
    def __repr__(self) -> str:
        return "UNCHANGED"


UNCHANGED = _Unchanged()


@dataclass(frozen=True)
class LotChange:
    """Points put back into (positive) or taken from (negative) what is left of a lot that was
    read under the account's lock."""

    lot: PointLot
    points: int


def ledger_post(
    *,
    account: LoyaltyAccount,
    rows: Sequence[LoyaltyTransaction] = (),
    new_lots: Sequence[PointLot] = (),
    changes: Sequence[LotChange] = (),
    release: Sequence[PointLot] = (),
    owed: int = 0,
    tier: Tier | _Unchanged | None = UNCHANGED,
) -> None:
    """Write one movement of an account's points: its ledger rows, its lots and its totals.

    The caller holds the account's row lock (``select_for_update``) in the current transaction,
    and read ``account`` and every lot it changes or releases under that lock. ``rows`` are new
    ledger rows, ``new_lots`` new lots, ``changes`` what is put back into or taken from existing
    lots, ``release`` pending lots that become spendable, ``owed`` the change of the points the
    account owes (a reversal of spent points adds to it; points coming in pay it first, see
    ``debt_share``); ``tier``, when given, is set in the same UPDATE. The account and lot objects
    are brought up to date in memory.

    What callers may rely on afterwards:
    - the account's balance equals the remaining points of its released lots, its pending_points
      the remaining points of its unreleased lots, and the sum of its ledger equals
      balance + pending_points - points_owed: the balance and pending deltas are derived from
      the lots, and rows that do not add up to them and the debt are refused;
    - lifetime_earned moves with earns and their reversals (a reversal takes back the whole
      earn), lifetime_redeemed with redemptions and cancelled vouchers;
    - neither balance, pending_points nor points_owed goes below zero, and no lot below zero or
      above its points;
    - the account's totals change in one UPDATE (none when nothing changes).
    A refused post raises ValueError before anything is written.
    """
    if any(row.account_id not in (None, account.pk) for row in rows):
        raise ValueError(f"Every row is posted to account {account.pk}.")
    balance, pending = _lot_deltas(account, new_lots, changes, release)
    posted = sum(row.points for row in rows)
    if posted != balance + pending - owed:
        raise ValueError(
            f"Ledger rows of {posted} points do not match the lots' change of "
            f"{balance + pending} and the debt's change of {owed}."
        )
    if (
        min(account.balance + balance, account.pending_points + pending, account.points_owed + owed)
        < 0
    ):
        raise ValueError(f"Account {account.pk} would go below zero.")
    earned, redeemed = _lifetime_deltas(rows)
    totals = {
        name: F(name) + delta
        for name, delta in (
            ("balance", balance),
            ("pending_points", pending),
            ("lifetime_earned", earned),
            ("lifetime_redeemed", redeemed),
            ("points_owed", owed),
        )
        if delta
    }
    if tier is not UNCHANGED:
        totals["tier"] = tier

    with transaction.atomic(savepoint=False):
        for lot in new_lots:
            lot.account = account
        PointLot.objects.bulk_create(new_lots)
        if changes:
            PointLot.objects.filter(pk__in=[change.lot.pk for change in changes]).update(
                remaining=Case(
                    *[
                        When(pk=change.lot.pk, then=F("remaining") + Value(change.points))
                        for change in changes
                    ],
                    default=F("remaining"),
                    output_field=IntegerField(),
                )
            )
        if release:
            PointLot.objects.filter(pk__in=[lot.pk for lot in release]).update(released=True)
        for row in rows:
            row.account = account
        LoyaltyTransaction.objects.bulk_create(rows)
        if totals:
            LoyaltyAccount.objects.filter(pk=account.pk).update(**totals)

    for change in changes:
        change.lot.remaining += change.points
    for lot in release:
        lot.released = True
    account.balance += balance
    account.pending_points += pending
    account.lifetime_earned += earned
    account.lifetime_redeemed += redeemed
    account.points_owed += owed
    if tier is not UNCHANGED:
        account.tier = tier


def _lot_deltas(
    account: LoyaltyAccount,
    new_lots: Sequence[PointLot],
    changes: Sequence[LotChange],
    release: Sequence[PointLot],
) -> tuple[int, int]:
    """(balance delta, pending delta) of the lot changes; ValueError if one is impossible."""
    balance = pending = 0
    for lot in new_lots:
        if lot.pk is not None or not 0 < lot.remaining == lot.points:
            raise ValueError("A new lot is unsaved and starts with all its points remaining.")
        if lot.released:
            balance += lot.remaining
        else:
            pending += lot.remaining
    changed = [change.lot.pk for change in changes]
    released = [lot.pk for lot in release]
    if len(set(changed)) != len(changed) or set(changed) & set(released):
        raise ValueError("Each lot is changed or released at most once per post.")
    for change in changes:
        lot = change.lot
        if lot.account_id != account.pk or not 0 <= lot.remaining + change.points <= lot.points:
            raise ValueError(f"Lot {lot.pk} cannot change by {change.points} points.")
        if lot.released:
            balance += change.points
        else:
            pending += change.points
    for lot in release:
        if lot.account_id != account.pk or lot.released:
            raise ValueError(f"Lot {lot.pk} is not a pending lot of account {account.pk}.")
        balance += lot.remaining
        pending -= lot.remaining
    return balance, pending


def _lifetime_deltas(rows: Sequence[LoyaltyTransaction]) -> tuple[int, int]:
    """(lifetime_earned delta, lifetime_redeemed delta) of the ledger rows."""
    earned = redeemed = 0
    for row in rows:
        if row.kind == Kind.EARN:
            earned += row.points
        elif row.kind == Kind.REDEEM:
            redeemed -= row.points
        elif row.kind == Kind.REVERSE and row.redemption_id is not None:
            redeemed -= row.points  # a cancelled voucher: its points come back
        elif row.kind == Kind.REVERSE:
            earned += row.points  # a reversed earn: the whole earn, spent points included
    return earned, redeemed


def debt_share(account: LoyaltyAccount, points: int, *, planned: int = 0) -> int:
    """How much of ``points`` coming into the (locked) account pays what it owes first, when
    ``planned`` points of the debt are already being paid in the same post."""
    return max(0, min(account.points_owed - planned, points))


def lots_take(
    account: LoyaltyAccount, points: int, *, exclude: Collection[int] = ()
) -> list[LotChange]:
    """Plan taking ``points`` from the account's released lots, oldest first (the account is
    locked). Plans less than asked only if the lots run out; the caller decides whether that is
    an error. ``exclude``: ids of lots the caller changes itself."""
    lots = (
        PointLot.objects.select_for_update()
        .filter(account=account, remaining__gt=0, released=True)
        .exclude(pk__in=list(exclude))
        .order_by("earned_at", "id")
    )
    changes = []
    need = points
    for lot in lots:
        if need <= 0:
            break
        take = min(lot.remaining, need)
        changes.append(LotChange(lot=lot, points=-take))
        need -= take
    return changes


def loyalty_points_adjust(
    *, account: LoyaltyAccount, points: int, reason: str, created_by
) -> LoyaltyTransaction:
    """Add (a new lot) or remove (oldest lots first) points by hand, with a reason, recorded
    with who made it. Adjustments do not count toward tiers."""
    reason = (reason or "").strip()
    errors = {}
    if not reason:
        errors["reason"] = "Say why the points are adjusted."
    elif len(reason) > LoyaltyTransaction._meta.get_field("description").max_length:
        errors["reason"] = "Keep the reason under 255 characters."
    if not points:
        errors["points"] = "Enter a number of points other than zero."
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = (
            LoyaltyAccount.objects.select_for_update(of=("self",))
            .select_related("program")
            .get(pk=account.pk)
        )
        adjustment = LoyaltyTransaction(
            kind=Kind.ADJUST, points=points, description=reason, created_by=created_by
        )
        if points > 0:
            now = timezone.now()
            days = locked.program.points_expire_after_days
            paid = debt_share(locked, points)  # what the account owes is paid first
            if points > paid:
                adjustment.lot = PointLot(
                    points=points - paid,
                    remaining=points - paid,
                    earned_at=now,
                    expires_at=now + timedelta(days=days) if days is not None else None,
                )
            new_lots = [adjustment.lot] if adjustment.lot else []
            ledger_post(account=locked, rows=[adjustment], new_lots=new_lots, owed=-paid)
        else:
            if locked.balance < -points:
                raise ValidationError(
                    {"points": f"Only {locked.balance} points can be removed (the balance)."}
                )
            ledger_post(account=locked, rows=[adjustment], changes=lots_take(locked, -points))
    account.refresh_from_db()
    return adjustment
