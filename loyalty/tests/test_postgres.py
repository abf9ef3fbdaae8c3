"""Row locks under real concurrency (PostgreSQL)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from customers.tests.factories import CustomerFactory
from customers.tests.test_postgres import run_concurrently
from loyalty import services
from loyalty.models import LoyaltyAccount, Redemption
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_concurrent_redemptions_cannot_overdraw():
    program = LoyaltyProgramFactory()
    account = services.loyalty_account_enrol(customer=CustomerFactory(), program=program)
    services.loyalty_points_adjust(account=account, points=150, reason="opening", created_by=None)
    reward = RewardFactory(program=program, points_cost=100)

    def redeem():
        services.loyalty_reward_redeem(
            account=LoyaltyAccount.objects.get(pk=account.pk), reward=reward
        )

    errors = run_concurrently(redeem, redeem)

    assert len(errors) == 1
    assert isinstance(errors[0], ValidationError)
    assert "Not enough points" in str(errors[0])
    account.refresh_from_db()
    assert account.balance == 50
    assert Redemption.objects.count() == 1


def test_two_concurrent_redemptions_of_the_last_item_in_stock():
    program = LoyaltyProgramFactory()
    reward = RewardFactory(program=program, points_cost=10, stock=1)
    accounts = []
    for _ in range(2):
        account = services.loyalty_account_enrol(customer=CustomerFactory(), program=program)
        services.loyalty_points_adjust(account=account, points=50, reason="x", created_by=None)
        accounts.append(account)

    errors = run_concurrently(
        *[lambda a=a: services.loyalty_reward_redeem(account=a, reward=reward) for a in accounts]
    )

    assert len(errors) == 1 and "out of stock" in str(errors[0])
    reward.refresh_from_db()
    assert reward.stock == 0


def test_concurrent_deliveries_of_one_order_earn_once():
    from customers.models import Order
    from customers.tests.factories import OrderFactory
    from loyalty.models import LoyaltyTransaction

    LoyaltyProgramFactory()
    order = OrderFactory(total=Decimal("90"))

    def deliver():
        mine = Order.objects.get(pk=order.pk)
        mine.status = "delivered"
        mine.save()

    assert run_concurrently(deliver, deliver) == []
    assert LoyaltyTransaction.objects.filter(order=order, kind="earn").count() == 1


def assert_books_balanced(account):
    from loyalty.selectors import account_books

    assert account_books(account.pk).problems() == []


def test_deliveries_returns_and_redemptions_at_once_keep_the_books_balanced():
    from customers import services as customer_services
    from customers.models import Order
    from customers.tests.factories import OrderFactory

    program = LoyaltyProgramFactory()
    customer = CustomerFactory()
    reward = RewardFactory(program=program, points_cost=30)
    kept = OrderFactory(customer=customer, total=Decimal("40"))
    customer_services.order_set_status(order=kept, status="delivered")
    account = LoyaltyAccount.objects.get(customer=customer, program=program)

    for _ in range(6):
        returned = OrderFactory(customer=customer, total=Decimal("50"))
        customer_services.order_set_status(order=returned, status="delivered")
        arriving = OrderFactory(customer=customer, total=Decimal("20"))

        def give_back(pk=returned.pk):
            customer_services.order_set_status(order=Order.objects.get(pk=pk), status="returned")

        def deliver(pk=arriving.pk):
            customer_services.order_set_status(order=Order.objects.get(pk=pk), status="delivered")

        def redeem():
            services.loyalty_reward_redeem(
                account=LoyaltyAccount.objects.get(pk=account.pk), reward=reward
            )

        errors = run_concurrently(give_back, deliver, redeem, hold_seconds=0.05)

        assert all(isinstance(error, ValidationError) for error in errors), errors
        assert_books_balanced(account)
