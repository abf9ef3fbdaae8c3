"""Loyalty on the staff pages: the customer-page panel, the timeline entries and the dashboard
card, registered with core.registry so the customers app needs no import of loyalty."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone

from core.registry import (
    TimelineEntry,
    register_dashboard_card,
    register_panel,
    register_timeline_source,
)
from loyalty import selectors
from loyalty.models import LoyaltyAccount, LoyaltyProgram, LoyaltyTransaction, Redemption

Kind = LoyaltyTransaction.Kind
Basis = LoyaltyProgram.TierBasis
ISSUED = Redemption.Status.ISSUED
DASHBOARD_DAYS = 30


@dataclass(frozen=True)
class TierProgress:
    """How far an account is on its way to the next tier, in the program's tier basis."""

    value: Decimal
    next_tier: str | None
    next_threshold: Decimal | None
    basis: str

    @property
    def is_spend(self) -> bool:
        return self.basis == Basis.SPEND_12M

    @property
    def percent(self) -> int:
        if not self.next_threshold:
            return 100
        return max(0, min(100, int(self.value * 100 / self.next_threshold)))

    @property
    def label(self) -> str:
        if self.is_spend:
            value, target = f"{self.value:,.2f}", f"{self.next_threshold or 0:,.2f}"
            amount = f"{settings.CRM_CURRENCY} {value}"
            if self.next_tier is None:
                return f"Top tier; {amount} spent in the last 12 months"
            return f"{amount} of {target} spent in the last 12 months to {self.next_tier}"
        points = f"{int(self.value):,}"
        window = " in the last 12 months" if self.basis == Basis.POINTS_12M else ""
        if self.next_tier is None:
            return f"Top tier; {points} points{window}"
        return f"{points} of {int(self.next_threshold):,} points{window} to {self.next_tier}"


def tier_progress(account: LoyaltyAccount) -> TierProgress | None:
    """None when the program has no tier the account is in or could reach."""
    if account.tier_id is None and account.next_tier_name is None:
        return None
    return TierProgress(
        value=Decimal(account.tier_value or 0),
        next_tier=account.next_tier_name,
        next_threshold=account.next_tier_threshold,
        basis=account.program.tier_basis,
    )


def loyalty_panel_context(request: HttpRequest, customer: Any) -> dict:
    """The customer's accounts with balance, tier progress and, as the user's permissions allow,
    recent ledger rows and the vouchers still to use.

    Two queries for a member; for someone who is not, one, and one more (the programs to enrol
    in) when the user may enrol. A member's other programs load on demand, keeping the page's
    count flat.
    """
    user = request.user
    show_ledger = user.has_perm("loyalty.view_loyaltytransaction")
    show_vouchers = user.has_perm("loyalty.view_redemption")
    accounts = list(selectors.customer_accounts(customer))
    rows = []
    if accounts and (show_ledger or show_vouchers):
        rows = selectors.ledger_extract(
            [account.pk for account in accounts],
            recent=selectors.RECENT_ROWS if show_ledger else 0,
            # One more than shown, to tell whether there are more.
            vouchers=selectors.OPEN_VOUCHERS + 1 if show_vouchers else 0,
        )
    for account in accounts:
        own = [row for row in rows if row.account_id == account.pk]
        vouchers = [
            row.redemption
            for row in own
            if show_vouchers
            and row.kind == Kind.REDEEM
            and row.redemption_id
            and row.redemption.status == ISSUED
        ]
        # The extract holds each account's newest rows, so its newest few are the account's.
        account.recent_transactions = own[: selectors.RECENT_ROWS] if show_ledger else []
        account.open_vouchers = vouchers[: selectors.OPEN_VOUCHERS]
        account.more_vouchers = len(vouchers) > selectors.OPEN_VOUCHERS
        account.progress = tier_progress(account)
    can_enrol = user.has_perm("loyalty.add_loyaltyaccount")
    programs = []
    if can_enrol and not accounts:
        programs = list(selectors.programs_open_for_enrolment(customer))
    return {
        "accounts": accounts,
        "show_ledger": show_ledger,
        "can_enrol": can_enrol,
        "programs_open_for_enrolment": programs,
        "can_redeem": user.has_perm("loyalty.add_redemption"),
    }


def transaction_title(row: LoyaltyTransaction) -> str:
    """One line for the timeline, in the words staff use at the counter."""
    points = abs(row.points)
    order = f" (Order {row.order.number})" if row.order_id else ""
    if row.kind == Kind.EARN:
        return f"Earned {points} points{order}"
    if row.kind == Kind.REDEEM:
        reward = f": {row.reward.name}" if row.reward_id else ""
        return f"Redeemed {points} points{reward}"
    if row.kind == Kind.EXPIRE:
        return f"{points} points expired"
    if row.kind == Kind.ADJUST:
        verb = "added" if row.points > 0 else "removed"
        return f"{points} points {verb} by hand"
    if row.redemption_id:
        return f"Voucher cancelled: {points} points returned"
    title = f"Took back {points} points{order}"
    if row.shortfall:
        title += f"; {row.shortfall} already spent, now owed"
    return title


def loyalty_timeline(customer: Any, limit: int):
    for row in selectors.customer_ledger(customer, limit=limit):
        yield TimelineEntry(
            at=row.created_at,
            kind="loyalty",
            title=transaction_title(row),
            body=row.description,
        )


def loyalty_card_context(request: HttpRequest) -> dict:
    """Running programs with members, points issued and redeemed lately, and members per tier;
    two queries whatever the number of members."""
    programs = list(selectors.programs_overview(now=timezone.now(), days=DASHBOARD_DAYS))
    tiers_by_program: dict[int, list] = {program.pk: [] for program in programs}
    if programs:
        for tier in selectors.tiers_with_members(list(tiers_by_program)):
            tiers_by_program[tier.program_id].append(tier)
    for program in programs:
        program.tier_rows = tiers_by_program[program.pk]
        program.without_tier = program.members - sum(tier.members for tier in program.tier_rows)
        for tier in program.tier_rows:
            tier.percent = round(tier.members * 100 / program.members) if program.members else 0
    return {"programs": programs, "days": DASHBOARD_DAYS}


register_panel(
    key="loyalty",
    title="Loyalty",
    template="loyalty/panel.html",
    context=loyalty_panel_context,
    permission="loyalty.view_loyaltyaccount",
    order=20,
)
register_timeline_source(
    key="loyalty", entries=loyalty_timeline, permission="loyalty.view_loyaltytransaction"
)
register_dashboard_card(
    key="loyalty",
    title="Loyalty",
    template="loyalty/card.html",
    context=loyalty_card_context,
    permission="loyalty.view_loyaltyaccount",
    order=50,
    width="col-12 col-lg-6",
)
