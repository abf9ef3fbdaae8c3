"""Every write to loyalty: enrolment, earning, reversal, redemption, adjustment and the nightly
release, expiry and tier runs.

What callers may rely on, after any of these functions:
- an account's balance equals the remaining points of its released lots, its pending_points the
  remaining points of its unreleased lots, and the sum of its ledger equals balance + pending;
- balance never goes below zero, and writes to one account are serialised by a row lock;
- an order earns at most once per program while the earn stands (a database constraint), and a
  reversal takes back exactly what the earn gave, or everything left, recording the shortfall.
Bad input raises ValidationError naming the field, and nothing is written.
"""

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import GreaterThanOrEqual
from django.utils import timezone

from customers.models import Customer, Order
from loyalty.models import (
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyTransaction,
    PointLot,
    Redemption,
    Reward,
    Tier,
)

Kind = LoyaltyTransaction.Kind
Basis = LoyaltyProgram.TierBasis
AMOUNT = DecimalField(max_digits=14, decimal_places=2)
YEAR = timedelta(days=365)


# Programs and tiers -----------------------------------------------------------------------------


def programs_running(on=None):
    """Active programs whose period includes the day ``on`` (default today), tiers prefetched."""
    on = on or timezone.localdate()
    return (
        LoyaltyProgram.objects.filter(is_active=True)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=on))
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
        .prefetch_related("tiers")
    )


def tier_for(tiers: Sequence[Tier], value) -> Tier | None:
    """The highest tier whose threshold the value reaches (tiers in any order)."""
    reached = [tier for tier in tiers if value >= tier.threshold]
    return max(reached, key=lambda tier: tier.threshold) if reached else None


def points_for(*, total: Decimal, program: LoyaltyProgram, tier: Tier | None) -> int:
    """floor(order total x points per unit x tier multiplier)."""
    multiplier = tier.earn_multiplier if tier else Decimal(1)
    return int((total * program.points_per_unit * multiplier).to_integral_value(ROUND_FLOOR))


def sum_subquery(queryset: QuerySet, group_by: str, column: str) -> Subquery:
    """SUM(column) over ``queryset`` as a scalar subquery (it is filtered to one group)."""
    return Subquery(
        queryset.order_by().values(group_by).annotate(total=Sum(column)).values("total")[:1]
    )


def tier_value_expression(now: datetime, basis: str | None = None):
    """What each account's program measures for tiers, as a SQL expression on LoyaltyAccount.

    The tier basis: lifetime points, points earned and not reversed in the last year, or
    delivered spend placed in the last year. Spending points never lowers it.
    """
    since = now - YEAR
    points_12m = sum_subquery(
        LoyaltyTransaction.objects.filter(
            account=OuterRef("pk"), kind=Kind.EARN, reversed=False, created_at__gte=since
        ),
        "account",
        "points",
    )
    spend_12m = sum_subquery(
        Order.objects.filter(
            customer=OuterRef("customer_id"),
            status=Order.Status.DELIVERED,
            placed_at__gte=since,
        ),
        "customer",
        "total",
    )
    values = {
        Basis.LIFETIME_POINTS: F("lifetime_earned"),
        Basis.POINTS_12M: Coalesce(points_12m, 0),
        Basis.SPEND_12M: Coalesce(spend_12m, 0, output_field=AMOUNT),
    }
    if basis is not None:  # one program: no join to the program table (UPDATEs cannot join)
        return values[basis]
    return Case(
        *[When(program__tier_basis=name, then=value) for name, value in values.items()],
        output_field=AMOUNT,
    )


def _tier_value(account: LoyaltyAccount, program: LoyaltyProgram, now: datetime):
    """What the program's tier basis measures for this account now."""
    if program.tier_basis == LoyaltyProgram.TierBasis.LIFETIME_POINTS:
        return account.lifetime_earned
    return (
        LoyaltyAccount.objects.filter(pk=account.pk)
        .annotate(value=tier_value_expression(now, basis=program.tier_basis))
        .values_list("value", flat=True)
        .get()
    )


def _higher(current: Tier | None, candidate: Tier | None) -> Tier | None:
    if candidate is None or (current is not None and current.threshold >= candidate.threshold):
        return current
    return candidate


def _tier_upgrade(account: LoyaltyAccount, program: LoyaltyProgram, now: datetime) -> None:
    """Move the account up as soon as it qualifies; never down (that is the nightly run's job)."""
    tiers = list(program.tiers.all())
    if not tiers:
        return
    best = _higher(account.tier, tier_for(tiers, _tier_value(account, program, now)))
    if best != account.tier:
        account.tier = best
        LoyaltyAccount.objects.filter(pk=account.pk).update(tier=best)


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


# Enrolment --------------------------------------------------------------------------------------


def loyalty_account_enroll_check(*, customer: Customer, program: LoyaltyProgram) -> None:
    """Raise the ValidationError loyalty_account_enroll would raise; forms call it to show the
    refusal at the field before anything is saved."""
    if not customer.can_receive_loyalty:
        raise ValidationError(
            {"customer": f"{customer} has opted out of loyalty programs (can receive loyalty)."}
        )
    if not program.is_running():
        raise ValidationError({"program": f"{program} is not running today."})


def loyalty_account_enroll(*, customer: Customer, program: LoyaltyProgram) -> LoyaltyAccount:
    """Enrol a customer (staff action). Idempotent: an existing account is returned as it is."""
    existing = LoyaltyAccount.objects.filter(customer=customer, program=program).first()
    if existing is not None:
        return existing
    loyalty_account_enroll_check(customer=customer, program=program)
    account, _ = LoyaltyAccount.objects.get_or_create(
        customer=customer,
        program=program,
        defaults={"tier": tier_for(list(program.tiers.all()), 0)},
    )
    return account


def _account_locked(customer_id: int, program: LoyaltyProgram) -> LoyaltyAccount:
    """The customer's account in the program, created if missing, locked for this transaction."""
    account, _ = (
        LoyaltyAccount.objects.select_for_update(of=("self",))
        .select_related("tier")
        .get_or_create(
            customer_id=customer_id,
            program=program,
            defaults={"tier": tier_for(list(program.tiers.all()), 0)},
        )
    )
    return account


# Earning ----------------------------------------------------------------------------------------


def _earn_orders(
    account: LoyaltyAccount, program: LoyaltyProgram, orders: Iterable[Order], *, now=None
) -> list[LoyaltyTransaction]:
    """Earn for each order not yet earned in this program, oldest first; the account is locked.

    Each earn is dated when its order was delivered (now for a live delivery), so pending and
    expiry dates follow the real delivery. One lot per earn; one UPDATE of the account.
    """
    orders = sorted(orders, key=lambda order: (order.delivered_at or order.placed_at, order.pk))
    already = set(
        LoyaltyTransaction.objects.filter(
            account=account,
            order__in=[order.pk for order in orders],
            kind=Kind.EARN,
            reversed=False,
        ).values_list("order_id", flat=True)
    )
    tiers = list(program.tiers.all())
    lifetime = account.lifetime_earned
    lots, earns = [], []
    for order in orders:
        if order.pk in already or order.total < program.minimum_spend:
            continue
        points = points_for(total=order.total, program=program, tier=account.tier)
        if points <= 0:
            continue
        at = now or order.delivered_at or order.placed_at
        available_at = at + timedelta(days=program.pending_days)
        expires_at = None
        if program.points_expire_after_days is not None:
            expires_at = at + timedelta(days=program.points_expire_after_days)
        lots.append(
            PointLot(
                account=account,
                points=points,
                remaining=points,
                earned_at=at,
                available_at=available_at,
                released=available_at <= timezone.now(),
                expires_at=expires_at,
            )
        )
        earns.append(
            LoyaltyTransaction(
                account=account,
                kind=Kind.EARN,
                points=points,
                order=order,
                description=f"Order {order.number}",
                created_at=at,
            )
        )
        lifetime += points
        if program.tier_basis == LoyaltyProgram.TierBasis.LIFETIME_POINTS:
            account.tier = _higher(account.tier, tier_for(tiers, lifetime))
    if not earns:
        return []
    PointLot.objects.bulk_create(lots)
    for lot, earn in zip(lots, earns, strict=True):
        earn.lot = lot
    LoyaltyTransaction.objects.bulk_create(earns)
    available = sum(lot.points for lot in lots if lot.released)
    pending = sum(lot.points for lot in lots if not lot.released)
    LoyaltyAccount.objects.filter(pk=account.pk).update(
        balance=F("balance") + available,
        pending_points=F("pending_points") + pending,
        lifetime_earned=F("lifetime_earned") + (lifetime - account.lifetime_earned),
        tier=account.tier,
    )
    account.balance += available
    account.pending_points += pending
    account.lifetime_earned = lifetime
    if program.tier_basis != LoyaltyProgram.TierBasis.LIFETIME_POINTS:
        _tier_upgrade(account, program, timezone.now())
    return earns


def loyalty_order_earn(*, order: Order) -> list[LoyaltyTransaction]:
    """Earn points for a delivered order in every running program the customer qualifies for.

    Enrols the customer on the first qualifying order where the program enrols automatically,
    unless the customer has can_receive_loyalty off. Safe to call twice.
    """
    programs = [p for p in programs_running() if order.total >= p.minimum_spend]
    if not programs:
        return []
    if not Customer.objects.filter(pk=order.customer_id, can_receive_loyalty=True).exists():
        return []
    earned = []
    with transaction.atomic():
        for program in programs:
            if (
                not program.auto_enroll
                and not LoyaltyAccount.objects.filter(
                    customer_id=order.customer_id, program=program
                ).exists()
            ):
                continue
            account = _account_locked(order.customer_id, program)
            earned += _earn_orders(account, program, [order], now=timezone.now())
    return earned


def loyalty_catch_up(*, customer_ids: Iterable[int] | None = None) -> int:
    """Award what delivered orders should have earned but did not: orders inserted in bulk, or
    delivered before a program was set up but within its period. Idempotent. Returns the number
    of earns written."""
    written = 0
    for program in programs_running():
        orders = Order.objects.filter(
            status=Order.Status.DELIVERED,
            total__gte=program.minimum_spend,
            customer__can_receive_loyalty=True,
        ).exclude(
            loyalty_transactions__in=LoyaltyTransaction.objects.filter(
                account__program=program, kind=Kind.EARN, reversed=False
            )
        )
        if program.starts_on:
            orders = orders.filter(placed_at__date__gte=program.starts_on)
        if not program.auto_enroll:
            orders = orders.filter(customer__loyalty_accounts__program=program)
        if customer_ids is not None:
            orders = orders.filter(customer_id__in=list(customer_ids))
        by_customer: dict[int, list[Order]] = {}
        for order in orders.only(
            "id", "customer_id", "number", "total", "placed_at", "delivered_at"
        ).order_by("customer_id"):
            by_customer.setdefault(order.customer_id, []).append(order)
        for customer_id, customer_orders in by_customer.items():
            with transaction.atomic():
                account = _account_locked(customer_id, program)
                written += len(_earn_orders(account, program, customer_orders))
    return written


# Taking points back -----------------------------------------------------------------------------


def _consume(account: LoyaltyAccount, points: int) -> dict[str, int]:
    """Take points from the account's released lots, oldest first. Returns {lot id: points};
    takes less than asked only if the lots run out (the caller decides whether that is an error)."""
    used: dict[str, int] = {}
    changed = []
    need = points
    lots = PointLot.objects.select_for_update().filter(
        account=account, remaining__gt=0, released=True
    )
    for lot in lots.order_by("earned_at", "id"):
        if need <= 0:
            break
        take = min(lot.remaining, need)
        lot.remaining -= take
        need -= take
        used[str(lot.pk)] = take
        changed.append(lot)
    PointLot.objects.bulk_update(changed, ["remaining"])
    return used


def _reverse_earn(earn: LoyaltyTransaction, *, created_by=None) -> LoyaltyTransaction | None:
    account = LoyaltyAccount.objects.select_for_update().get(pk=earn.account_id)
    flipped = LoyaltyTransaction.objects.filter(pk=earn.pk, reversed=False).update(reversed=True)
    if not flipped:
        return None
    taken_available = taken_pending = 0
    lot = PointLot.objects.select_for_update().filter(pk=earn.lot_id).first()
    if lot is not None and lot.remaining:
        take = min(lot.remaining, earn.points)
        PointLot.objects.filter(pk=lot.pk).update(remaining=F("remaining") - take)
        if lot.released:
            taken_available += take
        else:
            taken_pending += take
    still_owed = earn.points - taken_available - taken_pending
    if still_owed > 0:
        # Part of the earn was spent already: take what is left elsewhere, down to zero.
        taken_available += sum(_consume(account, still_owed).values())
    taken = taken_available + taken_pending
    reverse = LoyaltyTransaction.objects.create(
        account=account,
        kind=Kind.REVERSE,
        points=-taken,
        order_id=earn.order_id,
        reverses=earn,
        shortfall=earn.points - taken,
        description=f"Order {earn.order.number} left delivered" if earn.order_id else "Reversed",
        created_by=created_by,
    )
    LoyaltyAccount.objects.filter(pk=account.pk).update(
        balance=F("balance") - taken_available,
        pending_points=F("pending_points") - taken_pending,
        lifetime_earned=F("lifetime_earned") - earn.points,
    )
    return reverse


@transaction.atomic
def loyalty_order_reverse(*, order: Order) -> list[LoyaltyTransaction]:
    """Take back what an order earned in every program, when it leaves delivered. Safe twice."""
    earns = LoyaltyTransaction.objects.filter(
        order=order, kind=Kind.EARN, reversed=False
    ).select_related("order")
    return [reverse for earn in earns if (reverse := _reverse_earn(earn))]


# Redemption -------------------------------------------------------------------------------------


def _redemption_code() -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at the till
    body = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"RW-{body[:4]}-{body[4:]}"


def loyalty_reward_redeem(
    *, account: LoyaltyAccount, reward: Reward, created_by=None
) -> Redemption:
    """Spend points on a reward: locks the account, checks the reward and the balance, takes the
    points from the oldest lots and issues a voucher with a unique code."""
    with transaction.atomic():
        locked = LoyaltyAccount.objects.select_for_update().get(pk=account.pk)
        reward = Reward.objects.select_for_update().get(pk=reward.pk)
        if reward.program_id != locked.program_id:
            raise ValidationError({"reward": "This reward belongs to another program."})
        if not reward.is_active:
            raise ValidationError({"reward": f"{reward.name} is not available any more."})
        if reward.valid_until and reward.valid_until < timezone.localdate():
            raise ValidationError({"reward": f"{reward.name} expired on {reward.valid_until}."})
        if reward.stock is not None and reward.stock < 1:
            raise ValidationError({"reward": f"{reward.name} is out of stock."})
        if locked.balance < reward.points_cost:
            raise ValidationError(
                {
                    "points": (
                        f"Not enough points: {reward.name} costs {reward.points_cost}, "
                        f"the balance is {locked.balance}."
                    )
                }
            )
        used = _consume(locked, reward.points_cost)
        for _ in range(5):
            try:
                with transaction.atomic():
                    redemption = Redemption.objects.create(
                        account=locked,
                        reward=reward,
                        points=reward.points_cost,
                        code=_redemption_code(),
                        lots_used=used,
                        created_by=created_by,
                    )
                break
            except IntegrityError:  # a code clash: draw again
                continue
        else:  # pragma: no cover - 32^8 codes
            raise RuntimeError("Could not draw a unique voucher code.")
        LoyaltyTransaction.objects.create(
            account=locked,
            kind=Kind.REDEEM,
            points=-reward.points_cost,
            reward=reward,
            redemption=redemption,
            description=f"{reward.name} ({redemption.code})",
            created_by=created_by,
        )
        if reward.stock is not None:
            Reward.objects.filter(pk=reward.pk).update(stock=F("stock") - 1)
        LoyaltyAccount.objects.filter(pk=locked.pk).update(
            balance=F("balance") - reward.points_cost,
            lifetime_redeemed=F("lifetime_redeemed") + reward.points_cost,
        )
    account.refresh_from_db()
    return redemption


def loyalty_redemption_mark_used(*, redemption: Redemption) -> Redemption:
    with transaction.atomic():
        locked = Redemption.objects.select_for_update().get(pk=redemption.pk)
        if locked.status != Redemption.Status.ISSUED:
            raise ValidationError(
                {"status": f"Voucher {locked.code} is {locked.get_status_display().lower()}."}
            )
        locked.status = Redemption.Status.USED
        locked.used_at = timezone.now()
        locked.save(update_fields=["status", "used_at"])
    return locked


def loyalty_redemption_cancel(*, redemption: Redemption, cancelled_by=None) -> Redemption:
    """Cancel an issued voucher: its points go back to the lots they came from."""
    with transaction.atomic():
        account = LoyaltyAccount.objects.select_for_update().get(pk=redemption.account_id)
        locked = (
            Redemption.objects.select_for_update(of=("self",))
            .select_related("reward")
            .get(pk=redemption.pk)
        )
        if locked.status != Redemption.Status.ISSUED:
            raise ValidationError(
                {"status": f"Voucher {locked.code} is {locked.get_status_display().lower()}."}
            )
        for lot_id, points in locked.lots_used.items():
            PointLot.objects.filter(pk=int(lot_id)).update(remaining=F("remaining") + points)
        redeem = locked.transactions.filter(kind=Kind.REDEEM).first()
        LoyaltyTransaction.objects.create(
            account=account,
            kind=Kind.REVERSE,
            points=locked.points,
            reward=locked.reward,
            redemption=locked,
            reverses=redeem,
            description=f"Voucher {locked.code} cancelled",
            created_by=cancelled_by,
        )
        if locked.reward.stock is not None:
            Reward.objects.filter(pk=locked.reward_id).update(stock=F("stock") + 1)
        LoyaltyAccount.objects.filter(pk=account.pk).update(
            balance=F("balance") + locked.points,
            lifetime_redeemed=F("lifetime_redeemed") - locked.points,
        )
        locked.status = Redemption.Status.CANCELLED
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["status", "cancelled_at"])
    return locked


# Staff adjustment -------------------------------------------------------------------------------


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
        lot = None
        if points > 0:
            now = timezone.now()
            days = locked.program.points_expire_after_days
            lot = PointLot.objects.create(
                account=locked,
                points=points,
                remaining=points,
                earned_at=now,
                expires_at=now + timedelta(days=days) if days is not None else None,
            )
        else:
            if locked.balance < -points:
                raise ValidationError(
                    {"points": f"Only {locked.balance} points can be removed (the balance)."}
                )
            _consume(locked, -points)
        adjustment = LoyaltyTransaction.objects.create(
            account=locked,
            kind=Kind.ADJUST,
            points=points,
            lot=lot,
            description=reason,
            created_by=created_by,
        )
        LoyaltyAccount.objects.filter(pk=locked.pk).update(balance=F("balance") + points)
    account.refresh_from_db()
    return adjustment


# The nightly run --------------------------------------------------------------------------------


def loyalty_points_release(*, now: datetime | None = None) -> int:
    """Make pending points spendable once their return window is over. Returns accounts touched."""
    now = now or timezone.now()
    account_ids = (
        PointLot.objects.filter(released=False, available_at__lte=now)
        .values_list("account_id", flat=True)
        .distinct()
    )
    touched = 0
    for account_id in sorted(set(account_ids)):
        with transaction.atomic():
            LoyaltyAccount.objects.select_for_update().get(pk=account_id)
            due = PointLot.objects.select_for_update().filter(
                account_id=account_id, released=False, available_at__lte=now
            )
            points = due.aggregate(total=Coalesce(Sum("remaining"), 0))["total"]
            if not due.update(released=True):
                continue
            LoyaltyAccount.objects.filter(pk=account_id).update(
                balance=F("balance") + points, pending_points=F("pending_points") - points
            )
            touched += 1
    return touched


def loyalty_points_expire(*, now: datetime | None = None) -> int:
    """Zero what is left of lots past their expiry: one expire row per account per run.
    Running it twice expires once. Returns the number of accounts with points expired."""
    now = now or timezone.now()
    account_ids = (
        PointLot.objects.filter(remaining__gt=0, expires_at__lte=now)
        .values_list("account_id", flat=True)
        .distinct()
    )
    expired_accounts = 0
    for account_id in sorted(set(account_ids)):
        with transaction.atomic():
            LoyaltyAccount.objects.select_for_update().get(pk=account_id)
            lots = list(
                PointLot.objects.select_for_update().filter(
                    account_id=account_id, remaining__gt=0, expires_at__lte=now
                )
            )
            if not lots:
                continue
            available = sum(lot.remaining for lot in lots if lot.released)
            pending = sum(lot.remaining for lot in lots if not lot.released)
            PointLot.objects.filter(pk__in=[lot.pk for lot in lots]).update(remaining=0)
            LoyaltyTransaction.objects.create(
                account_id=account_id,
                kind=Kind.EXPIRE,
                points=-(available + pending),
                description=f"{available + pending} points expired",
                created_at=now,
            )
            LoyaltyAccount.objects.filter(pk=account_id).update(
                balance=F("balance") - available, pending_points=F("pending_points") - pending
            )
            expired_accounts += 1
    return expired_accounts


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
