"""Customer stats under concurrent status changes of one customer's orders (PostgreSQL).

Two threads, each with its own connection, move two different orders of the same customer at
the same moment, round after round; directly after each round, with no recompute in between,
the stored stats must equal the aggregate of the delivered orders.
"""

import threading
from decimal import Decimal

import pytest
from django.db import connections
from django.db.models import Count, Sum
from django.utils import timezone

from customers import services
from customers.models import Customer, Order

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 50

# (status order A starts in, A's move), (status order B starts in, B's move)
PAIRS = {
    "deliver+deliver": (("paid", "delivered"), ("paid", "delivered")),
    "deliver+return": (("paid", "delivered"), ("delivered", "returned")),
    "return+return": (("delivered", "returned"), ("delivered", "returned")),
    "deliver+cancel": (("paid", "delivered"), ("delivered", "cancelled")),
    "return+refund": (("delivered", "returned"), ("delivered", "refunded")),
}


class Movers:
    """Two long-lived threads, each with its own connection, that move one order each per
    round; the rounds start together at a barrier."""

    def __init__(self):
        self.start, self.done = threading.Barrier(3), threading.Barrier(3)
        self.moves: list[tuple[Order, str]] = []
        self.errors: list[Exception] = []
        self.stop = False
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(2)]
        for thread in self.threads:
            thread.start()

    def _work(self, index: int) -> None:
        try:
            while True:
                self.start.wait(timeout=30)
                if self.stop:
                    return
                order, status = self.moves[index]
                try:
                    services.order_set_status(order=order, status=status)
                except Exception as error:  # noqa: BLE001 - reported by the test
                    self.errors.append(error)
                self.done.wait(timeout=30)
        finally:
            connections.close_all()

    def round(self, moves: list[tuple[Order, str]]) -> None:
        self.moves = moves
        self.start.wait(timeout=30)
        self.done.wait(timeout=30)

    def close(self) -> None:
        self.stop = True
        self.start.wait(timeout=30)
        for thread in self.threads:
            thread.join(timeout=30)


def order_in(customer: Customer, status: str, number: str, total: str) -> Order:
    order = services.order_create(
        customer=customer, number=number, total=Decimal(total), placed_at=timezone.now()
    )
    if status != "pending":
        services.order_set_status(order=order, status=status)
    return order


def stats_are_exact(customer: Customer) -> tuple[tuple, tuple]:
    customer.refresh_from_db()
    aggregate = Order.objects.filter(customer=customer, status="delivered").aggregate(
        count=Count("id"), total=Sum("total")
    )
    return (
        (customer.order_count, customer.total_spent),
        (aggregate["count"], aggregate["total"] or Decimal("0")),
    )


@pytest.mark.parametrize("pair", list(PAIRS))
def test_stats_stay_exact_when_two_orders_of_one_customer_move_at_once(pair):
    (a_from, a_to), (b_from, b_to) = PAIRS[pair]
    movers = Movers()
    wrong = []
    try:
        for round_number in range(ROUNDS):
            customer = Customer.objects.create(first_name=f"Round {round_number}")
            first = order_in(customer, a_from, f"{pair}-{round_number}-A", "10.00")
            second = order_in(customer, b_from, f"{pair}-{round_number}-B", "32.50")

            movers.round([(first, a_to), (second, b_to)])

            stored, delivered = stats_are_exact(customer)
            if stored != delivered:
                wrong.append((round_number, stored, delivered))
    finally:
        movers.close()

    assert movers.errors == []
    assert wrong == [], f"{len(wrong)} of {ROUNDS} rounds left wrong stats, e.g. {wrong[:3]}"
