"""Loyalty on the delivery path: same transaction, and a pinned number of added queries."""

from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers import services as customer_services
from customers.models import Order
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty import services
from loyalty.models import LoyaltyAccount, LoyaltyTransaction
from loyalty.tests.factories import LoyaltyProgramFactory, standard_tiers

pytestmark = pytest.mark.django_db

# Loyalty's share of a delivery's budget of 12 queries, for a member of one running program:
# the running programs; the account locked with its tier, the customer's consent and whether
# the order earned already; the lot; the earn; the account's totals.
EARN_QUERIES = 5
# The accounts the order earned in, locked; their standing earns with their lots; the earns
# marked reversed; the lot; the reverse row; the account's totals.
REVERSE_QUERIES = 6
# A first delivery that enrols: the running programs; no account to lock; the customer's
# consent; the tiers; the account opened under a savepoint (a concurrent enrolment may win);
# the lot; the earn; the account's totals.
ENROLMENT_EARN_QUERIES = 10


def delivery_queries(order) -> int:
    with CaptureQueriesContext(connection) as captured:
        customer_services.order_set_status(order=order, status="delivered")
    return len(captured.captured_queries)


def test_one_program_adds_a_pinned_number_of_queries():
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered")  # warms up nothing shared; same shape
    without_program = delivery_queries(OrderFactory(customer=customer))
    program = LoyaltyProgramFactory()
    standard_tiers(program)
    OrderFactory(customer=customer, status="delivered")  # enrols: the next one is the usual case

    with_program = delivery_queries(OrderFactory(customer=customer, total=Decimal("75")))

    assert LoyaltyAccount.objects.get(customer=customer).lifetime_earned > 0
    assert with_program - without_program <= 10, with_program - without_program
    assert with_program <= 20


def test_added_queries_do_not_grow_with_the_ledger():
    program = LoyaltyProgramFactory()
    standard_tiers(program)
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered")
    small = delivery_queries(OrderFactory(customer=customer))
    for _ in range(40):
        OrderFactory(customer=customer, status="delivered")

    assert delivery_queries(OrderFactory(customer=customer)) == small


def test_a_failing_earn_rolls_back_the_delivery(monkeypatch):
    from loyalty import services

    LoyaltyProgramFactory()
    customer = CustomerFactory()
    order = OrderFactory(customer=customer, total=Decimal("10"))

    def explode(**kwargs):
        raise RuntimeError("ledger unavailable")

    monkeypatch.setattr(services, "loyalty_order_earn", explode)
    with pytest.raises(RuntimeError):
        customer_services.order_set_status(order=order, status="delivered")

    order.refresh_from_db()
    customer.refresh_from_db()
    assert order.status == "pending"
    assert customer.order_count == 0
    assert not LoyaltyTransaction.objects.exists()


def delivered_without_receivers(customer, total) -> Order:
    """An order in delivered that loyalty has not seen yet (the status written directly)."""
    order = OrderFactory(customer=customer, total=Decimal(total))
    Order.objects.filter(pk=order.pk).update(status="delivered", delivered_at=timezone.now())
    order.refresh_from_db()
    return order


@pytest.fixture
def member():
    """A Bronze member of one running program (default tiers, lifetime points basis)."""
    program = LoyaltyProgramFactory()
    standard_tiers(program)
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered", total=Decimal("20"))  # enrols
    return LoyaltyAccount.objects.get(customer=customer, program=program)


@pytest.mark.django_db(transaction=True)
def test_earn_and_reverse_for_a_member_cost_a_pinned_number_of_queries(
    member, django_assert_num_queries
):
    order = delivered_without_receivers(member.customer, "75")

    # Inside the delivery's transaction, as the receivers run: no savepoint of their own.
    with transaction.atomic(), django_assert_num_queries(EARN_QUERIES):
        services.loyalty_order_earn(order=order)

    member.refresh_from_db()
    assert (member.balance, member.lifetime_earned, member.tier.name) == (95, 95, "Bronze")

    with transaction.atomic(), django_assert_num_queries(REVERSE_QUERIES):
        services.loyalty_order_reverse(order=order)

    member.refresh_from_db()
    assert (member.balance, member.lifetime_earned) == (20, 20)
    assert LoyaltyTransaction.objects.get(order=order, kind="reverse").points == -75


@pytest.mark.django_db(transaction=True)
def test_crossing_into_a_higher_tier_reads_the_tiers_once_more(member, django_assert_num_queries):
    order = delivered_without_receivers(member.customer, "600")

    with transaction.atomic(), django_assert_num_queries(EARN_QUERIES + 1):
        services.loyalty_order_earn(order=order)

    member.refresh_from_db()
    assert (member.lifetime_earned, member.tier.name) == (620, "Silver")


@pytest.mark.django_db(transaction=True)
def test_a_first_delivery_enrols_at_a_pinned_number_of_queries(django_assert_num_queries):
    program = LoyaltyProgramFactory()
    standard_tiers(program)
    order = delivered_without_receivers(CustomerFactory(), "75")

    with transaction.atomic(), django_assert_num_queries(ENROLMENT_EARN_QUERIES):
        services.loyalty_order_earn(order=order)

    account = LoyaltyAccount.objects.get(customer=order.customer, program=program)
    assert (account.balance, account.tier.name) == (75, "Bronze")
