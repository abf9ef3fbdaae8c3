"""The posting function: it keeps balance = released lots, pending = unreleased lots and
ledger = balance + pending, or refuses the post and writes nothing."""

import pytest
from django.db import transaction
from django.db.models import Sum

from loyalty.models import LoyaltyAccount, LoyaltyTransaction, PointLot
from loyalty.services import LotChange, ledger_post
from loyalty.services.ledger import lots_take
from loyalty.tests.factories import LoyaltyAccountFactory, TierFactory

pytestmark = pytest.mark.django_db

Kind = LoyaltyTransaction.Kind


def locked(account) -> LoyaltyAccount:
    return LoyaltyAccount.objects.select_for_update().get(pk=account.pk)


def lot(**fields) -> PointLot:
    points = fields.pop("points", 100)
    return PointLot(points=points, remaining=points, **fields)


def books(account) -> tuple[int, int, int, int, int]:
    """(balance, pending, sum of released lots, sum of pending lots, sum of the ledger)."""
    account.refresh_from_db()
    released = account.lots.filter(released=True).aggregate(total=Sum("remaining"))["total"]
    pending = account.lots.filter(released=False).aggregate(total=Sum("remaining"))["total"]
    ledger = account.transactions.aggregate(total=Sum("points"))["total"]
    return account.balance, account.pending_points, released or 0, pending or 0, ledger or 0


def earn(account, points, *, released=True) -> LoyaltyTransaction:
    new = lot(points=points, released=released)
    row = LoyaltyTransaction(kind=Kind.EARN, points=points, lot=new)
    with transaction.atomic():
        ledger_post(account=locked(account), rows=[row], new_lots=[new])
    return row


@pytest.fixture
def account():
    return LoyaltyAccountFactory()


def test_a_post_derives_the_totals_from_the_lots_in_one_update(account, django_assert_num_queries):
    spendable, waiting = lot(points=70), lot(points=30, released=False)
    rows = [
        LoyaltyTransaction(kind=Kind.EARN, points=70, lot=spendable),
        LoyaltyTransaction(kind=Kind.EARN, points=30, lot=waiting),
    ]
    with transaction.atomic():
        member = locked(account)
        # The lots, the rows, the account's totals.
        with django_assert_num_queries(3):
            ledger_post(account=member, rows=rows, new_lots=[spendable, waiting])

    assert (member.balance, member.pending_points, member.lifetime_earned) == (70, 30, 100)
    assert books(account) == (70, 30, 70, 30, 100)
    assert account.lifetime_earned == 100
    assert rows[0].lot_id == spendable.pk and rows[1].lot_id == waiting.pk


@pytest.mark.parametrize("row_points", [-39, -41])
def test_rows_that_do_not_match_the_lots_are_refused_and_nothing_is_written(account, row_points):
    first = earn(account, 100)
    before = books(account)
    lot_before = PointLot.objects.get(pk=first.lot_id).remaining

    with pytest.raises(ValueError, match="do not match"), transaction.atomic():
        ledger_post(
            account=locked(account),
            rows=[LoyaltyTransaction(kind=Kind.ADJUST, points=row_points, description="x")],
            changes=[LotChange(lot=PointLot.objects.get(pk=first.lot_id), points=-40)],
        )

    assert books(account) == before
    assert PointLot.objects.get(pk=first.lot_id).remaining == lot_before
    assert account.transactions.count() == 1


def test_a_release_moves_points_from_pending_to_balance_without_a_ledger_row(account):
    earn(account, 60, released=False)
    earn(account, 15)

    with transaction.atomic():
        ledger_post(account=locked(account), release=list(account.lots.filter(released=False)))

    assert books(account) == (75, 0, 75, 0, 75)
    assert account.transactions.count() == 2
    assert account.lifetime_earned == 75


@pytest.mark.parametrize(
    ("points", "reason"),
    [(-101, "cannot change"), (1, "cannot change")],
)
def test_a_lot_cannot_go_below_zero_or_above_its_points(account, points, reason):
    first = earn(account, 100)

    with pytest.raises(ValueError, match=reason), transaction.atomic():
        ledger_post(
            account=locked(account),
            rows=[LoyaltyTransaction(kind=Kind.ADJUST, points=points, description="x")],
            changes=[LotChange(lot=PointLot.objects.get(pk=first.lot_id), points=points)],
        )

    assert books(account) == (100, 0, 100, 0, 100)


def test_the_balance_cannot_go_below_zero(account):
    first = earn(account, 50)

    with pytest.raises(ValueError, match="below zero"), transaction.atomic():
        member = locked(account)
        member.balance = 10  # books out of step: the post refuses to take the balance below zero
        ledger_post(
            account=member,
            rows=[LoyaltyTransaction(kind=Kind.ADJUST, points=-50, description="x")],
            changes=[LotChange(lot=PointLot.objects.get(pk=first.lot_id), points=-50)],
        )

    assert books(account) == (50, 0, 50, 0, 50)


def test_rows_and_lots_of_another_account_are_refused(account):
    other = LoyaltyAccountFactory()
    theirs = earn(other, 40)

    with pytest.raises(ValueError), transaction.atomic():
        ledger_post(
            account=locked(account),
            rows=[LoyaltyTransaction(kind=Kind.ADJUST, points=-40, description="x")],
            changes=[LotChange(lot=PointLot.objects.get(pk=theirs.lot_id), points=-40)],
        )
    with pytest.raises(ValueError), transaction.atomic():
        ledger_post(
            account=locked(account),
            rows=[LoyaltyTransaction(account=other, kind=Kind.ADJUST, points=5, description="x")],
            new_lots=[lot(points=5)],
        )

    assert books(account) == (0, 0, 0, 0, 0)
    assert books(other) == (40, 0, 40, 0, 40)


def test_a_reversal_takes_the_whole_earn_off_lifetime_and_a_cancel_gives_back_redeemed(account):
    first = earn(account, 100)
    with transaction.atomic():
        member = locked(account)
        spent = lots_take(member, 80)
        ledger_post(
            account=member,
            rows=[LoyaltyTransaction(kind=Kind.REDEEM, points=-80, description="voucher")],
            changes=spent,
        )
    account.refresh_from_db()
    assert (account.balance, account.lifetime_redeemed) == (20, 80)

    with transaction.atomic():
        member = locked(account)
        ledger_post(
            account=member,
            rows=[
                LoyaltyTransaction(
                    kind=Kind.REVERSE, points=-100, reverses=first, shortfall=80, description="x"
                )
            ],
            changes=lots_take(member, 100),
            owed=80,
        )

    # The 80 points spent are owed: the ledger sums to balance + pending - owed.
    assert books(account) == (0, 0, 0, 0, -80)
    assert (account.lifetime_earned, account.lifetime_redeemed, account.points_owed) == (0, 80, 80)


def test_a_tier_given_to_the_post_is_set_in_the_same_update(account, django_assert_num_queries):
    gold = TierFactory(program=account.program, name="Gold", threshold=2000)
    row = LoyaltyTransaction(kind=Kind.ADJUST, points=5, description="x")
    with transaction.atomic():
        member = locked(account)
        with django_assert_num_queries(3):
            ledger_post(account=member, rows=[row], new_lots=[lot(points=5)], tier=gold)

    account.refresh_from_db()
    assert (account.balance, account.tier) == (5, gold)


def test_a_post_whose_rows_ignore_the_debt_is_refused(account):
    earn(account, 100)
    with transaction.atomic():
        member = locked(account)
        with pytest.raises(ValueError, match="debt"):
            ledger_post(
                account=member,
                rows=[LoyaltyTransaction(kind=Kind.ADJUST, points=-100, description="x")],
                changes=lots_take(member, 100),
                owed=20,
            )
        with pytest.raises(ValueError, match="below zero"):
            ledger_post(
                account=member,
                rows=[LoyaltyTransaction(kind=Kind.ADJUST, points=10, description="x")],
                new_lots=[lot(points=5)],
                owed=-5,
            )
    assert books(account) == (100, 0, 100, 0, 100)
