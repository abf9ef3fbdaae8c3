"""Reads of loyalty: the running programs, the tier basis as SQL, and the loyalty parts of the
staff pages, each a fixed number of queries whatever the size of the ledger. The services read
through these too; nothing here writes."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Greatest, RowNumber
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
RECENT_ROWS = 5
OPEN_VOUCHERS = 10


def programs_running(on=None) -> QuerySet[LoyaltyProgram]:
    """Active programs whose period includes the day ``on`` (default today), in one query."""
    on = on or timezone.localdate()
    return (
        LoyaltyProgram.objects.filter(is_active=True)
        .filter(Q(starts_on__isnull=True) | Q(starts_on__lte=on))
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
    )


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


def customer_accounts(
    customer: Customer, *, now: datetime | None = None
) -> QuerySet[LoyaltyAccount]:
    """The customer's accounts, oldest first, with program and tier, in one query.

    Each account carries ``tier_value`` (per its program's tier basis), ``next_tier_name`` and
    ``next_tier_threshold`` (the lowest tier above both that value and the current tier; None at
    the top) and ``pending_from`` (when the earliest pending lot becomes spendable).
    """
    now = now or timezone.now()
    pending_from = (
        PointLot.objects.filter(account=OuterRef("pk"), released=False, remaining__gt=0)
        .order_by("available_at")
        .values("available_at")[:1]
    )
    next_tier = Tier.objects.filter(
        program=OuterRef("program_id"), threshold__gt=OuterRef("tier_floor")
    ).order_by("threshold")
    return (
        LoyaltyAccount.objects.filter(customer=customer)
        .select_related("program", "tier")
        .annotate(tier_value=tier_value_expression(now), pending_from=Subquery(pending_from))
        # A tier is only lowered at night, so the value can sit below the current tier.
        .alias(
            tier_floor=Greatest(
                "tier_value", Coalesce("tier__threshold", Value(-1), output_field=AMOUNT)
            )
        )
        .annotate(
            next_tier_name=Subquery(next_tier.values("name")[:1]),
            next_tier_threshold=Subquery(next_tier.values("threshold")[:1]),
        )
        .order_by("joined_at", "id")
    )


def _newest_per_account(queryset: QuerySet, count: int) -> QuerySet:
    """The ids of the newest ``count`` rows of ``queryset`` for each account."""
    rank = Window(
        RowNumber(), partition_by=F("account_id"), order_by=(F("created_at").desc(), F("id").desc())
    )
    return queryset.annotate(rank=rank).filter(rank__lte=count).values("pk")


def ledger_extract(
    account_ids: list[int], *, recent: int = RECENT_ROWS, vouchers: int = OPEN_VOUCHERS
) -> list[LoyaltyTransaction]:
    """For each account, its newest ``recent`` ledger rows and the redeem rows of its newest
    ``vouchers`` issued (unused) vouchers, with voucher and reward, newest first, in one query.

    Vouchers come through their redeem row: the redemption service writes both in one
    transaction, so every issued voucher has exactly one. Reading both lists in one query keeps
    the customer page within its query budget.
    """
    rows = LoyaltyTransaction.objects.filter(account_id__in=account_ids)
    open_vouchers = rows.filter(kind=Kind.REDEEM, redemption__status=Redemption.Status.ISSUED)
    return list(
        LoyaltyTransaction.objects.filter(
            Q(pk__in=_newest_per_account(rows, recent))
            | Q(pk__in=_newest_per_account(open_vouchers, vouchers))
        )
        .select_related("redemption__reward")
        .order_by("-created_at", "-id")
    )


def programs_open_for_enrolment(customer: Customer, *, on=None) -> QuerySet[LoyaltyProgram]:
    """Programs running today that the customer has not joined, in one query."""
    return programs_running(on).exclude(accounts__customer=customer).order_by("name")


def rewards_available(program: LoyaltyProgram, *, on=None) -> QuerySet[Reward]:
    """The program's rewards that can be redeemed today: active, not expired, in stock."""
    on = on or timezone.localdate()
    return (
        Reward.objects.filter(program=program, is_active=True)
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=on))
        .filter(Q(stock__isnull=True) | Q(stock__gte=1))
        .order_by("points_cost", "name")
    )


def customer_ledger(customer: Customer, *, limit: int) -> QuerySet[LoyaltyTransaction]:
    """The customer's newest ledger rows across all their accounts, in one query."""
    return (
        LoyaltyTransaction.objects.filter(account__customer=customer)
        .select_related("order", "reward")
        .order_by("-created_at", "-id")[:limit]
    )


def programs_overview(*, now: datetime | None = None, days: int = 30) -> QuerySet[LoyaltyProgram]:
    """Running programs with ``members`` and, over the last ``days`` days, ``points_issued``
    (earns that still stand and positive adjustments) and ``points_redeemed`` (redemptions not
    cancelled since), in one query."""
    now = now or timezone.now()
    since = now - timedelta(days=days)
    recent = LoyaltyTransaction.objects.filter(
        account__program=OuterRef("pk"), created_at__gte=since
    )
    issued = recent.filter(Q(kind=Kind.EARN, reversed=False) | Q(kind=Kind.ADJUST, points__gt=0))
    redeemed = recent.filter(kind=Kind.REDEEM).exclude(
        redemption__status=Redemption.Status.CANCELLED
    )
    members = (
        LoyaltyAccount.objects.filter(program=OuterRef("pk"))
        .order_by()
        .values("program")
        .annotate(count=Count("id"))
        .values("count")[:1]
    )
    return (
        programs_running(timezone.localdate(now))
        .annotate(
            members=Coalesce(Subquery(members), 0),
            points_issued=Coalesce(sum_subquery(issued, "account__program", "points"), 0),
            # Redeem rows are negative; the card shows points spent as a positive number.
            points_redeemed=-Coalesce(sum_subquery(redeemed, "account__program", "points"), 0),
        )
        .order_by("name")
    )


def tiers_with_members(program_ids: list[int]) -> QuerySet[Tier]:
    """The programs' tiers, lowest first, each with ``members``: accounts now in it."""
    return (
        Tier.objects.filter(program_id__in=program_ids)
        .annotate(members=Count("accounts"))
        .order_by("program_id", "threshold")
    )


@dataclass(frozen=True)
class AccountBooks:
    """An account's stored totals beside what its lots and ledger say: what the invariants of
    the loyalty books are checked against (tests, the soak test, an operator's check)."""

    balance: int
    pending_points: int
    points_owed: int
    lifetime_earned: int
    released_lots: int
    pending_lots: int
    ledger: int
    standing_earned: int
    adjusted: int
    net_redeemed: int
    earns_without_delivered_order: int

    def problems(self) -> list[str]:
        """The invariants that do not hold (DESIGN section 4), in words; empty when all do."""
        rules = {
            "balance = remaining points of the released lots": (self.balance == self.released_lots),
            "pending = remaining points of the pending lots": (
                self.pending_points == self.pending_lots
            ),
            "ledger = balance + pending - owed": (
                self.ledger == self.balance + self.pending_points - self.points_owed
            ),
            "balance, pending and owed are never negative": (
                min(self.balance, self.pending_points, self.points_owed) >= 0
            ),
            "lifetime earned = the standing earns": self.lifetime_earned == self.standing_earned,
            "redeemed <= standing earns + adjustments + owed": (
                self.net_redeemed <= self.standing_earned + self.adjusted + self.points_owed
            ),
            "no standing earn without a delivered order": self.earns_without_delivered_order == 0,
        }
        return [rule for rule, holds in rules.items() if not holds]


def account_books(account_id: int) -> AccountBooks:
    """Read an account's books (three queries)."""
    account = LoyaltyAccount.objects.get(pk=account_id)
    lots = PointLot.objects.filter(account_id=account_id).aggregate(
        in_released=Coalesce(Sum("remaining", filter=Q(released=True)), 0),
        in_pending=Coalesce(Sum("remaining", filter=Q(released=False)), 0),
    )
    Kind = LoyaltyTransaction.Kind
    standing = Q(kind=Kind.EARN, reversed=False)
    ledger = LoyaltyTransaction.objects.filter(account_id=account_id).aggregate(
        total=Coalesce(Sum("points"), 0),
        standing=Coalesce(Sum("points", filter=standing), 0),
        adjusted=Coalesce(Sum("points", filter=Q(kind=Kind.ADJUST)), 0),
        redeemed=Coalesce(Sum("points", filter=Q(kind=Kind.REDEEM)), 0),
        cancelled=Coalesce(Sum("points", filter=Q(kind=Kind.REVERSE, redemption__isnull=False)), 0),
        orphans=Count(
            "id", filter=standing & (Q(order__isnull=True) | ~Q(order__status="delivered"))
        ),
    )
    return AccountBooks(
        balance=account.balance,
        pending_points=account.pending_points,
        points_owed=account.points_owed,
        lifetime_earned=account.lifetime_earned,
        released_lots=lots["in_released"],
        pending_lots=lots["in_pending"],
        ledger=ledger["total"],
        standing_earned=ledger["standing"],
        adjusted=ledger["adjusted"],
        net_redeemed=-(ledger["redeemed"] + ledger["cancelled"]),
        earns_without_delivered_order=ledger["orphans"],
    )
