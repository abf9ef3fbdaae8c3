"""A bounded random workload on PostgreSQL: eight threads, each with its own connection, make a
few hundred moves on a handful of customers in one program whose points are available at once.
When they stop, every invariant of DESIGN section 4 is checked against the database, before any
recompute or reconcile runs."""

import random
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Count, Sum

from customers import services
from customers.models import Customer, Order
from customers.tests.factories import CustomerFactory
from loyalty import services as loyalty
from loyalty.models import LoyaltyAccount, Redemption
from loyalty.selectors import account_books
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8
MOVES = 150
CUSTOMERS = 4


def move(rng: random.Random, thread: int, step: int, customers, rewards) -> None:
    customer = rng.choice(customers)
    orders = list(Order.objects.filter(customer=customer).order_by("?")[:3])
    action = rng.choice(
        ["new", "deliver", "deliver", "return", "cancel", "redeem", "unvoucher", "adjust",
         "expire", "delete"]
    )  # fmt: skip
    if action == "new" or not orders:
        services.order_create(
            customer=customer,
            number=f"S{thread}-{step}",
            total=Decimal(rng.randrange(5, 300)),
            status=rng.choice(["pending", "delivered"]),
        )
    elif action in ("deliver", "return", "cancel"):
        status = {"deliver": "delivered", "return": "returned", "cancel": "cancelled"}[action]
        services.order_set_status(order=orders[0], status=status)
    elif action == "redeem":
        account = LoyaltyAccount.objects.filter(customer=customer).first()
        if account:
            loyalty.loyalty_reward_redeem(account=account, reward=rng.choice(rewards))
    elif action == "unvoucher":
        voucher = Redemption.objects.filter(account__customer=customer, status="issued").first()
        if voucher:
            loyalty.loyalty_redemption_cancel(redemption=voucher)
    elif action == "adjust":
        account = LoyaltyAccount.objects.filter(customer=customer).first()
        if account:
            points = rng.choice([-40, -10, 15, 60])
            loyalty.loyalty_points_adjust(
                account=account, points=points, reason="soak", created_by=None
            )
    elif action == "expire":
        loyalty.loyalty_points_expire()
    elif rng.random() < 0.5:
        services.order_delete(order=orders[0])  # refuses a delivered order
    else:
        Order.objects.get(pk=orders[0].pk).delete()  # the ORM: a delivered one gives back


def test_the_invariants_hold_after_a_random_concurrent_workload():
    program = LoyaltyProgramFactory(pending_days=0, points_per_unit=Decimal("1"))
    rewards = [RewardFactory(program=program, points_cost=cost) for cost in (50, 200)]
    customers = [CustomerFactory() for _ in range(CUSTOMERS)]
    start = threading.Barrier(THREADS)
    unexpected: list[str] = []

    def work(thread: int) -> None:
        rng = random.Random(thread)
        try:
            start.wait(timeout=30)
            for step in range(MOVES):
                try:
                    move(rng, thread, step, customers, rewards)
                except (ValidationError, Order.DoesNotExist):
                    pass  # refused moves and orders another thread deleted are fine
                except Exception as error:  # noqa: BLE001 - reported below
                    unexpected.append(f"{type(error).__name__}: {error}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not any(thread.is_alive() for thread in threads)
    assert unexpected == [], "\n".join(unexpected)
    for customer in Customer.objects.filter(pk__in=[c.pk for c in customers]):
        delivered = Order.objects.filter(customer=customer, status="delivered").aggregate(
            count=Count("id"), total=Sum("total"), items=Sum("item_count")
        )
        assert (customer.order_count, customer.total_spent, customer.total_items) == (
            delivered["count"],
            delivered["total"] or Decimal("0"),
            delivered["items"] or 0,
        ), customer
        assert (
            not Order.objects.filter(customer=customer)
            .exclude(stats_applied=(True))
            .filter(status="delivered")
        )
    accounts = LoyaltyAccount.objects.filter(program=program)
    assert accounts.count() > 0
    for account in accounts:
        assert account_books(account.pk).problems() == [], account
