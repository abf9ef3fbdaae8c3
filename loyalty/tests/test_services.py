"""The loyalty rules: earning, reversal, redemption, adjustment, release, expiry and tiers."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers import services as customer_services
from customers import stats as customer_stats
from customers.models import Order
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty import services
from loyalty.models import LoyaltyAccount, LoyaltyTransaction, PointLot, Redemption
from loyalty.selectors import account_books
from loyalty.tests.factories import (
    LoyaltyAccountFactory,
    LoyaltyProgramFactory,
    RewardFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db


def assert_consistent(account: LoyaltyAccount):
    """The ledger invariants of DESIGN.md section 4, extended to pending points and debt."""
    account.refresh_from_db()
    assert account_books(account.pk).problems() == []


def deliver(customer, total, **kwargs):
    order = OrderFactory(customer=customer, total=Decimal(total), **kwargs)
    customer_services.order_set_status(order=order, status=Order.Status.DELIVERED)
    return order


@pytest.fixture
def program():
    program = LoyaltyProgramFactory(points_per_unit=Decimal("1"))
    standard_tiers(program)
    return program


def account_of(customer, program) -> LoyaltyAccount:
    return LoyaltyAccount.objects.get(customer=customer, program=program)


def test_first_delivery_enrols_and_earns_floor_of_total(program):
    customer = CustomerFactory()

    deliver(customer, "123.99")

    account = account_of(customer, program)
    assert account.balance == 123
    assert account.lifetime_earned == 123
    assert account.tier.name == "Bronze"
    earn = account.transactions.get()
    assert (earn.kind, earn.points, earn.lot.remaining) == ("earn", 123, 123)
    assert_consistent(account)


def test_fractional_points_per_unit_and_tier_multiplier():
    program = LoyaltyProgramFactory(points_per_unit=Decimal("0.5"))
    standard_tiers(program)
    customer = CustomerFactory()
    deliver(customer, "1000.00")  # 500 points: reaches Silver at once
    account = account_of(customer, program)
    assert account.tier.name == "Silver"

    deliver(customer, "99.99")  # floor(99.99 x 0.5 x 1.25) = 62

    account.refresh_from_db()
    assert account.balance == 562


def test_minimum_spend_and_opt_out_and_inactive_programs_earn_nothing():
    LoyaltyProgramFactory(minimum_spend=Decimal("50"))
    LoyaltyProgramFactory(is_active=False)
    LoyaltyProgramFactory(ends_on=timezone.localdate() - timedelta(days=1))
    small_spender, opted_out = CustomerFactory(), CustomerFactory(can_receive_loyalty=False)

    deliver(small_spender, "49.99")
    deliver(opted_out, "500.00")

    assert not LoyaltyAccount.objects.exists()
    assert not LoyaltyTransaction.objects.exists()


def test_no_auto_enrol_program_earns_only_for_members():
    program = LoyaltyProgramFactory(auto_enrol=False)
    stranger, member = CustomerFactory(), CustomerFactory()
    services.loyalty_account_enrol(customer=member, program=program)

    deliver(stranger, "100")
    deliver(member, "100")

    assert not LoyaltyAccount.objects.filter(customer=stranger).exists()
    assert account_of(member, program).balance == 100


def test_every_running_program_earns_once_per_order(program):
    second = LoyaltyProgramFactory(points_per_unit=Decimal("2"))
    customer = CustomerFactory()
    order = deliver(customer, "10")

    services.loyalty_order_earn(order=order)  # a second call (a retry) changes nothing

    assert account_of(customer, program).balance == 10
    assert account_of(customer, second).balance == 20
    assert LoyaltyTransaction.objects.filter(order=order, kind="earn").count() == 2


def test_deliver_revert_redeliver_leaves_one_effective_earn(program):
    customer = CustomerFactory()
    order = deliver(customer, "80")

    customer_services.order_set_status(order=order, status="returned")
    customer_services.order_set_status(order=order, status="delivered")

    account = account_of(customer, program)
    effective = account.transactions.filter(kind="earn", reversed=False)
    assert effective.count() == 1
    assert account.balance == 80
    assert account.lifetime_earned == 80
    assert_consistent(account)


def test_reversal_after_spending_goes_to_zero_and_records_shortfall(program):
    customer = CustomerFactory()
    order = deliver(customer, "150")
    account = account_of(customer, program)
    services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=program, points_cost=100)
    )

    customer_services.order_set_status(order=order, status="refunded")

    account.refresh_from_db()
    reverse = account.transactions.get(kind="reverse")
    assert account.balance == 0
    # The reversal takes back the whole earn; the 100 points spent of it are owed.
    assert (reverse.points, reverse.shortfall, account.points_owed) == (-150, 100, 100)
    assert_consistent(account)


def test_reversal_takes_from_other_lots_when_its_own_was_spent(program):
    customer = CustomerFactory()
    first = deliver(customer, "100")
    account = account_of(customer, program)
    services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=program, points_cost=100)
    )
    deliver(customer, "300")

    customer_services.order_set_status(order=first, status="returned")

    account.refresh_from_db()
    assert account.balance == 200
    assert account.transactions.get(kind="reverse").shortfall == 0
    assert_consistent(account)


def test_redeem_consumes_oldest_lots_first_and_issues_a_unique_code(program):
    customer = CustomerFactory()
    now = timezone.now()
    deliver(customer, "60", placed_at=now - timedelta(days=3))
    deliver(customer, "70", placed_at=now - timedelta(days=1))
    account = account_of(customer, program)
    older, newer = account.lots.order_by("earned_at")
    reward = RewardFactory(program=program, points_cost=100, stock=2)

    redemption = services.loyalty_reward_redeem(account=account, reward=reward)

    older.refresh_from_db(), newer.refresh_from_db()
    assert (older.remaining, newer.remaining) == (0, 30)
    assert redemption.code.startswith("RW-")
    assert redemption.lots_used == {str(older.pk): 60, str(newer.pk): 40}
    reward.refresh_from_db()
    assert reward.stock == 1
    assert account.balance == 30 and account.lifetime_redeemed == 100
    assert_consistent(account)


@pytest.mark.parametrize(
    ("reward_kwargs", "field", "message"),
    [
        ({"points_cost": 1000}, "points", "Not enough points"),
        ({"is_active": False}, "reward", "not available"),
        ({"valid_until": timezone.localdate() - timedelta(days=1)}, "reward", "expired"),
        ({"stock": 0}, "reward", "out of stock"),
    ],
)
def test_redeem_refusals_leave_the_account_unchanged(program, reward_kwargs, field, message):
    customer = CustomerFactory()
    deliver(customer, "200")
    account = account_of(customer, program)
    reward = RewardFactory(program=program, **{"points_cost": 100, **reward_kwargs})

    with pytest.raises(ValidationError) as raised:
        services.loyalty_reward_redeem(account=account, reward=reward)

    assert message in raised.value.message_dict[field][0]
    account.refresh_from_db()
    assert account.balance == 200
    assert not Redemption.objects.exists()
    assert_consistent(account)


def test_reward_of_another_program_is_refused(program):
    account = LoyaltyAccountFactory(program=program)

    with pytest.raises(ValidationError) as raised:
        services.loyalty_reward_redeem(account=account, reward=RewardFactory())

    assert "reward" in raised.value.message_dict


def test_cancel_gives_points_back_to_their_lots_and_mark_used_is_final(program):
    customer = CustomerFactory()
    deliver(customer, "150")
    account = account_of(customer, program)
    reward = RewardFactory(program=program, points_cost=100, stock=5)
    cancelled = services.loyalty_reward_redeem(account=account, reward=reward)
    used = services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=program, points_cost=50)
    )

    services.loyalty_redemption_cancel(redemption=cancelled)
    services.loyalty_redemption_mark_used(redemption=used)

    account.refresh_from_db()
    assert account.balance == 100
    assert account.lifetime_redeemed == 50
    reward.refresh_from_db()
    assert reward.stock == 5
    with pytest.raises(ValidationError):
        services.loyalty_redemption_cancel(redemption=used)
    with pytest.raises(ValidationError):
        services.loyalty_redemption_cancel(redemption=cancelled)
    assert_consistent(account)


@pytest.mark.parametrize(
    ("points", "reason", "field"),
    [(0, "goodwill", "points"), (10, "  ", "reason"), (-500, "fix", "points")],
)
def test_adjustment_errors_leave_account_unchanged(program, points, reason, field):
    customer = CustomerFactory()
    deliver(customer, "100")
    account = account_of(customer, program)

    with pytest.raises(ValidationError) as raised:
        services.loyalty_points_adjust(
            account=account, points=points, reason=reason, created_by=None
        )

    assert field in raised.value.message_dict
    account.refresh_from_db()
    assert account.balance == 100
    assert not account.transactions.filter(kind="adjust").exists()


def test_adjustment_records_reason_and_staff(program, user_with_perms):
    staff = user_with_perms()
    account = LoyaltyAccountFactory(program=program)

    services.loyalty_points_adjust(
        account=account, points=40, reason="Late parcel", created_by=staff
    )
    services.loyalty_points_adjust(account=account, points=-15, reason="Typo", created_by=staff)

    rows = list(
        account.transactions.order_by("id").values_list("points", "description", "created_by")
    )
    assert rows == [(40, "Late parcel", staff.pk), (-15, "Typo", staff.pk)]
    assert account.balance == 25
    assert account.lifetime_earned == 0  # adjustments do not count toward tiers
    assert_consistent(account)


def test_pending_points_wait_for_the_return_window_then_release_once():
    program = LoyaltyProgramFactory(pending_days=14)
    customer = CustomerFactory()
    deliver(customer, "90")
    account = account_of(customer, program)
    assert (account.balance, account.pending_points) == (0, 90)
    reward = RewardFactory(program=program, points_cost=50)
    with pytest.raises(ValidationError):
        services.loyalty_reward_redeem(account=account, reward=reward)

    later = timezone.now() + timedelta(days=15)
    assert services.loyalty_points_release(now=timezone.now()) == 0
    assert services.loyalty_points_release(now=later) == 1
    assert services.loyalty_points_release(now=later) == 0

    account.refresh_from_db()
    assert (account.balance, account.pending_points) == (90, 0)
    assert_consistent(account)


def test_reversing_a_pending_earn_takes_it_from_pending():
    program = LoyaltyProgramFactory(pending_days=14)
    customer = CustomerFactory()
    order = deliver(customer, "90")

    customer_services.order_set_status(order=order, status="returned")

    account = account_of(customer, program)
    assert (account.balance, account.pending_points) == (0, 0)
    assert_consistent(account)


def test_expiry_run_twice_expires_once_with_one_row_per_account():
    program = LoyaltyProgramFactory(points_expire_after_days=30)
    customer = CustomerFactory()
    deliver(customer, "40")
    deliver(customer, "60")
    account = account_of(customer, program)
    services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=program, points_cost=30)
    )
    later = timezone.now() + timedelta(days=31)

    first = services.loyalty_points_expire(now=later)
    second = services.loyalty_points_expire(now=later)

    assert (first, second) == (1, 0)
    expiry = account.transactions.get(kind="expire")
    assert expiry.points == -70
    account.refresh_from_db()
    assert account.balance == 0
    assert_consistent(account)


def test_points_not_yet_due_do_not_expire():
    program = LoyaltyProgramFactory(points_expire_after_days=30)
    customer = CustomerFactory()
    deliver(customer, "40")

    assert services.loyalty_points_expire(now=timezone.now() + timedelta(days=29)) == 0
    assert account_of(customer, program).balance == 40


def test_tier_rises_at_once_and_never_drops_because_points_were_spent(program):
    customer = CustomerFactory()
    deliver(customer, "600")
    account = account_of(customer, program)
    assert account.tier.name == "Silver"

    services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=program, points_cost=550)
    )
    services.loyalty_tiers_recompute()

    account.refresh_from_db()
    assert account.balance == 50
    assert account.tier.name == "Silver"


def test_tier_moves_down_only_in_the_nightly_run():
    program = LoyaltyProgramFactory(tier_basis="points_12m")
    standard_tiers(program)
    customer = CustomerFactory()
    deliver(customer, "2100")
    account = account_of(customer, program)
    assert account.tier.name == "Gold"
    # A year passes: the earn falls out of the 12-month window.
    account.transactions.update(created_at=timezone.now() - timedelta(days=400))

    deliver(customer, "10")  # a delivery never lowers the tier
    account.refresh_from_db()
    assert account.tier.name == "Gold"

    changed = services.loyalty_tiers_recompute()

    account.refresh_from_db()
    assert changed == 1
    assert account.tier.name == "Bronze"
    assert services.loyalty_tiers_recompute() == 0


def test_spend_basis_tier():
    program = LoyaltyProgramFactory(tier_basis="spend_12m", points_per_unit=Decimal("0.1"))
    standard_tiers(program)
    customer = CustomerFactory()

    deliver(customer, "2500")

    assert account_of(customer, program).tier.name == "Gold"


def test_catch_up_awards_bulk_inserted_orders_once(program):
    customer = CustomerFactory()
    placed = timezone.now() - timedelta(days=5)
    Order.objects.bulk_create(
        [
            Order(
                customer=customer,
                number=f"BULK-{n}",
                status="delivered",
                total=Decimal("100"),
                placed_at=placed,
                delivered_at=placed,
            )
            for n in range(3)
        ]
    )
    customer_stats.customer_stats_recompute(customer_ids=[customer.pk])

    assert services.loyalty_catch_up() == 3
    assert services.loyalty_catch_up() == 0

    account = account_of(customer, program)
    assert account.balance == 300
    assert account.transactions.filter(kind="earn").count() == 3
    assert_consistent(account)


def test_catch_up_dates_earns_at_delivery_so_old_points_expire():
    program = LoyaltyProgramFactory(points_expire_after_days=365)
    customer = CustomerFactory()
    long_ago = timezone.now() - timedelta(days=400)
    Order.objects.bulk_create(
        [
            Order(
                customer=customer,
                number="OLD-1",
                status="delivered",
                total=Decimal("50"),
                placed_at=long_ago,
                delivered_at=long_ago,
            )
        ]
    )

    services.loyalty_catch_up()
    services.loyalty_points_expire()

    account = account_of(customer, program)
    assert account.lifetime_earned == 50
    assert account.balance == 0
    assert_consistent(account)


def test_enrol_refuses_opted_out_customer(program):
    customer = CustomerFactory(can_receive_loyalty=False)

    with pytest.raises(ValidationError) as raised:
        services.loyalty_account_enrol(customer=customer, program=program)

    assert "customer" in raised.value.message_dict
    assert not LoyaltyAccount.objects.exists()


def test_lot_and_balance_constraints_hold_in_the_database(program):
    from django.db import IntegrityError, transaction

    account = LoyaltyAccountFactory(program=program)
    with pytest.raises(IntegrityError), transaction.atomic():
        LoyaltyAccount.objects.filter(pk=account.pk).update(balance=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        PointLot.objects.create(account=account, points=5, remaining=6)


def test_bulk_sync_after_bulk_insert_awards_points_through_the_signal(program):
    customer = CustomerFactory()
    placed = timezone.now() - timedelta(days=2)
    Order.objects.bulk_create(
        [
            Order(
                customer=customer,
                number="IMPORT-1",
                status="delivered",
                total=Decimal("42"),
                placed_at=placed,
                delivered_at=placed,
            )
        ]
    )

    customer_services.orders_bulk_sync(customer_ids=[customer.pk])

    customer.refresh_from_db()
    assert customer.order_count == 1
    assert account_of(customer, program).balance == 42


def test_cycling_an_order_through_delivered_and_returned_yields_one_delivery_at_most():
    """Delivered, redeem, returned, five times over, with points available at once: one voucher,
    and the points spent become a debt the next order pays back first."""
    program = LoyaltyProgramFactory(pending_days=0, points_per_unit=Decimal("1"))
    reward = RewardFactory(program=program, points_cost=100)
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, total=Decimal("100.00"))
    vouchers = 0
    for _ in range(5):
        customer_services.order_set_status(order=order, status="delivered")
        try:
            services.loyalty_reward_redeem(account=account_of(customer, program), reward=reward)
            vouchers += 1
        except ValidationError:
            pass
        customer_services.order_set_status(order=order, status="returned")

    account = account_of(customer, program)
    assert vouchers == 1
    assert (account.balance, account.points_owed, account.lifetime_earned) == (0, 100, 0)
    assert_consistent(account)

    deliver(customer, "150")

    account.refresh_from_db()
    assert (account.balance, account.points_owed, account.lifetime_earned) == (50, 0, 150)
    assert_consistent(account)


def test_points_owed_are_paid_by_an_adjustment_and_a_cancelled_voucher_first(program):
    customer = CustomerFactory()
    order = deliver(customer, "100")
    account = account_of(customer, program)
    voucher = services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=program, points_cost=60)
    )
    customer_services.order_set_status(order=order, status="returned")
    account.refresh_from_db()
    assert (account.balance, account.points_owed) == (0, 60)

    services.loyalty_points_adjust(account=account, points=25, reason="goodwill", created_by=None)
    account.refresh_from_db()
    assert (account.balance, account.points_owed) == (0, 35)

    services.loyalty_redemption_cancel(redemption=voucher)
    account.refresh_from_db()
    assert (account.balance, account.points_owed, account.lifetime_redeemed) == (25, 0, 0)
    assert_consistent(account)
