"""Earning points: on delivery, in the catch-up for orders written in bulk, and taking an
order's points back when it leaves delivered."""

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.models import Customer, Order
from loyalty.models import LoyaltyAccount, LoyaltyProgram, LoyaltyTransaction, PointLot, Tier
from loyalty.rules import points_for, tier_for, tier_higher, tier_threshold_above
from loyalty.selectors import AMOUNT, programs_running, tier_value_expression
from loyalty.services.ledger import UNCHANGED, LotChange, debt_share, ledger_post, lots_take

Kind = LoyaltyTransaction.Kind
Basis = LoyaltyProgram.TierBasis


def _accounts_locked(*, order: Order | None = None) -> QuerySet[LoyaltyAccount]:
    """Accounts locked for this transaction (the account rows only), in id order, each with its
    tier, the customer's ``can_receive_loyalty``, ``next_tier_threshold`` (the lowest tier
    above its own; None at the top) and, given an order, ``order_earned``: whether the order
    has a standing earn in the account."""
    next_tier = Tier.objects.filter(
        program=OuterRef("program_id"),
        threshold__gt=Coalesce(
            OuterRef("tier__threshold"), Value(Decimal(-1)), output_field=AMOUNT
        ),
    ).order_by("threshold")
    accounts = (
        LoyaltyAccount.objects.select_for_update(of=("self",))
        .select_related("tier")
        .annotate(
            can_receive_loyalty=F("customer__can_receive_loyalty"),
            next_tier_threshold=Subquery(next_tier.values("threshold")[:1]),
        )
        .order_by("pk")
    )
    if order is not None:
        # Read with the lock. Should a concurrent earn of the same order commit while this
        # waited for the lock, the unique constraint on standing earns still refuses a second.
        standing = LoyaltyTransaction.objects.filter(
            account=OuterRef("pk"), order=order, kind=Kind.EARN, reversed=False
        )
        accounts = accounts.annotate(order_earned=Exists(standing))
    return accounts


def _account_open(
    customer_id: int, program: LoyaltyProgram, *, order: Order | None = None
) -> LoyaltyAccount:
    """Open the customer's account in the program, in the lowest tier, with the tier and
    ``next_tier_threshold`` and ``order_earned`` of ``_accounts_locked``; if a concurrent
    enrolment opened it first, that one, locked."""
    tiers = list(program.tiers.all())
    try:
        with transaction.atomic():  # a concurrent enrolment may open it first
            account = LoyaltyAccount.objects.create(
                customer_id=customer_id, program=program, tier=tier_for(tiers, 0)
            )
    except IntegrityError:
        return _accounts_locked(order=order).get(customer_id=customer_id, program=program)
    # A row this transaction inserted is invisible to others until commit: nothing to lock.
    account.next_tier_threshold = tier_threshold_above(tiers, account.tier)
    account.order_earned = False
    return account


def _tier_value(account: LoyaltyAccount, program: LoyaltyProgram, now: datetime):
    """What the program's tier basis measures for this account now."""
    if program.tier_basis == Basis.LIFETIME_POINTS:
        return account.lifetime_earned
    return (
        LoyaltyAccount.objects.filter(pk=account.pk)
        .annotate(value=tier_value_expression(now, basis=program.tier_basis))
        .values_list("value", flat=True)
        .get()
    )


def _tier_upgrade(account: LoyaltyAccount, program: LoyaltyProgram, now: datetime) -> None:
    """Move the account up as soon as it qualifies; never down (that is the nightly run's job)."""
    tiers = list(program.tiers.all())
    if not tiers:
        return
    best = tier_higher(account.tier, tier_for(tiers, _tier_value(account, program, now)))
    if best != account.tier:
        account.tier = best
        LoyaltyAccount.objects.filter(pk=account.pk).update(tier=best)


def _earn(
    account: LoyaltyAccount, program: LoyaltyProgram, orders: Iterable[Order], *, now=None
) -> list[LoyaltyTransaction]:
    """Earn for each order, oldest first. The account is locked and carries
    ``next_tier_threshold``; none of the orders has a standing earn in it.

    Each earn is dated when its order was delivered (now for a live delivery), so pending and
    expiry dates follow the real delivery. One lot per earn; one post. The tiers are read only
    when the lifetime points cross the next tier's threshold.
    """
    orders = sorted(orders, key=lambda order: (order.delivered_at or order.placed_at, order.pk))
    lifetime_basis = program.tier_basis == Basis.LIFETIME_POINTS
    tier, next_threshold, tiers = account.tier, account.next_tier_threshold, None
    lifetime = account.lifetime_earned
    lots, earns = [], []
    paid = 0  # of what the account owes, paid from these earns before any can be spent
    for order in orders:
        if order.total < program.minimum_spend:
            continue
        points = points_for(total=order.total, program=program, tier=tier)
        if points <= 0:
            continue
        at = now or order.delivered_at or order.placed_at
        available_at = at + timedelta(days=program.pending_days)
        expires_at = None
        if program.points_expire_after_days is not None:
            expires_at = at + timedelta(days=program.points_expire_after_days)
        share = debt_share(account, points, planned=paid)
        paid += share
        lot = None
        if points > share:
            lot = PointLot(
                points=points - share,
                remaining=points - share,
                earned_at=at,
                available_at=available_at,
                released=available_at <= timezone.now(),
                expires_at=expires_at,
            )
            lots.append(lot)
        earns.append(
            LoyaltyTransaction(
                kind=Kind.EARN,
                points=points,
                order=order,
                lot=lot,
                description=f"Order {order.number}",
                created_at=at,
            )
        )
        lifetime += points
        if lifetime_basis and next_threshold is not None and lifetime >= next_threshold:
            tiers = list(program.tiers.all()) if tiers is None else tiers
            tier = tier_higher(tier, tier_for(tiers, lifetime))
            next_threshold = tier_threshold_above(tiers, tier)
    if not earns:
        return []
    ledger_post(
        account=account,
        rows=earns,
        new_lots=lots,
        owed=-paid,
        tier=tier if tier != account.tier else UNCHANGED,
    )
    if not lifetime_basis:
        _tier_upgrade(account, program, timezone.now())
    return earns


def loyalty_order_earn(*, order: Order) -> list[LoyaltyTransaction]:
    """Earn points for a delivered order in every running program the customer qualifies for.

    Enrols the customer on the first qualifying order where the program enrols automatically,
    unless the customer has can_receive_loyalty off. Safe to call twice. For a member of one
    program it reads the programs, then locks and reads the account (with its tier, the
    customer's consent and whether the order earned already) in one query before the post.
    """
    programs = [p for p in programs_running() if order.total >= p.minimum_spend]
    if not programs:
        return []
    earned = []
    with transaction.atomic(savepoint=False):
        accounts = {
            account.program_id: account
            for account in _accounts_locked(order=order).filter(
                customer_id=order.customer_id, program__in=programs
            )
        }
        if accounts:
            may_earn = next(iter(accounts.values())).can_receive_loyalty
        else:
            may_earn = Customer.objects.filter(
                pk=order.customer_id, can_receive_loyalty=True
            ).exists()
        if not may_earn:
            return []
        for program in programs:
            account = accounts.get(program.pk)
            if account is None:
                if not program.auto_enrol:
                    continue
                account = _account_open(order.customer_id, program, order=order)
            if not account.order_earned:
                earned += _earn(account, program, [order], now=timezone.now())
    return earned


def _orders_not_earned(account: LoyaltyAccount, orders: list[Order]) -> list[Order]:
    """The orders without a standing earn in the account, read under its lock."""
    earned = set(
        LoyaltyTransaction.objects.filter(
            account=account,
            order__in=[order.pk for order in orders],
            kind=Kind.EARN,
            reversed=False,
        ).values_list("order_id", flat=True)
    )
    return [order for order in orders if order.pk not in earned]


def loyalty_catch_up(*, customer_ids: Iterable[int] | None = None) -> int:
    """Award what delivered orders should have earned but did not: orders inserted in bulk, or
    delivered before a program was set up but within its period. Idempotent. Returns the number
    of earns written."""
    written = 0
    for program in programs_running().prefetch_related("tiers"):
        orders = Order.objects.filter(
            status=Order.Status.DELIVERED,
            total__gte=program.minimum_spend,
            customer__can_receive_loyalty=True,
        ).exclude(
            # One anti-join by the order's key: the same test written as "its transactions are
            # not among the program's earns" nested a second scan of the ledger per order.
            Exists(
                LoyaltyTransaction.objects.filter(
                    order_id=OuterRef("pk"),
                    account__program=program,
                    kind=Kind.EARN,
                    reversed=False,
                )
            )
        )
        if program.starts_on:
            orders = orders.filter(placed_at__date__gte=program.starts_on)
        if not program.auto_enrol:
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
                account = _accounts_locked().filter(
                    customer_id=customer_id, program=program
                ).first() or _account_open(customer_id, program)
                written += len(
                    _earn(account, program, _orders_not_earned(account, customer_orders))
                )
    return written


# Taking an order's points back ------------------------------------------------------------------


def _earn_reverse(
    account: LoyaltyAccount, earn: LoyaltyTransaction, order: Order
) -> LoyaltyTransaction:
    """Take back the whole earn: from its own lot, then, for what was spent of it, from the
    account's other lots, down to zero; what is still missing (spent already) becomes points
    owed, recorded on the reversal as its shortfall."""
    changes = []
    lot = earn.lot
    if lot is not None and lot.remaining:
        changes.append(LotChange(lot=lot, points=-min(lot.remaining, earn.points)))
    owed = earn.points + sum(change.points for change in changes)
    if owed > 0:
        changes += lots_take(account, owed, exclude=[lot.pk] if lot is not None else [])
    taken = -sum(change.points for change in changes)
    reverse = LoyaltyTransaction(
        kind=Kind.REVERSE,
        points=-earn.points,
        order=order,
        reverses=earn,
        shortfall=earn.points - taken,
        description=f"Order {order.number} left delivered",
    )
    ledger_post(account=account, rows=[reverse], changes=changes, owed=earn.points - taken)
    return reverse


def loyalty_order_reverse(*, order: Order) -> list[LoyaltyTransaction]:
    """Take back what an order earned in every program, when it leaves delivered. Safe twice.

    Locks the accounts the order earned in, then reads their standing earns and lots under the
    lock, so what is taken back is what is left now.
    """
    with transaction.atomic(savepoint=False):
        accounts = {
            account.pk: account
            for account in LoyaltyAccount.objects.select_for_update(of=("self",))
            .filter(
                transactions__order=order,
                transactions__kind=Kind.EARN,
                transactions__reversed=False,
            )
            .order_by("pk")
        }
        if not accounts:
            return []
        # Lots change only under their account's lock, so these are what is left now.
        earns = list(
            LoyaltyTransaction.objects.select_related("lot").filter(
                account__in=list(accounts), order=order, kind=Kind.EARN, reversed=False
            )
        )
        LoyaltyTransaction.objects.filter(pk__in=[earn.pk for earn in earns]).update(reversed=True)
        return [_earn_reverse(accounts[earn.account_id], earn, order) for earn in earns]
