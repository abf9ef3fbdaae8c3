"""The whole delivery path with every app connected: order_set_status, the customer's stats, the
loyalty points and the order's attribution to a campaign, at a pinned number of queries.

Measured outside a test transaction (transactional_db), as a request or a task runs it, so no
SAVEPOINT of the test's own transaction is counted. The budget (DESIGN section 6) is 12 queries
for one delivery and for one return; pytest-django prints every query when a count is off.
A delivery's twelfth is the attribution's one INSERT … SELECT; a return adds none (results
count only attributions whose order still stands delivered).
"""

from decimal import Decimal

import pytest

from customers import services
from customers.models import Customer
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty.models import LoyaltyAccount
from loyalty.tests.factories import LoyaltyProgramFactory, standard_tiers

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERY_QUERIES = 12
RETURN_QUERIES = 12
FIRST_DELIVERY_QUERIES = 17


@pytest.fixture
def member():
    """A customer with a delivered order in one running program with tiers: the usual case."""
    standard_tiers(LoyaltyProgramFactory())
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered", total=Decimal("40.00"))
    assert LoyaltyAccount.objects.filter(customer=customer).exists()
    return customer


def test_one_delivery(member, assert_queries):
    order = OrderFactory(customer=member, total=Decimal("75.00"))

    with assert_queries(DELIVERY_QUERIES):
        services.order_set_status(order=order, status="delivered")

    member.refresh_from_db()
    assert (member.order_count, member.total_spent) == (2, Decimal("115.00"))
    assert LoyaltyAccount.objects.get(customer=member).lifetime_earned == 115


def test_one_return(member, assert_queries):
    order = OrderFactory(customer=member, total=Decimal("75.00"))
    services.order_set_status(order=order, status="delivered")

    with assert_queries(RETURN_QUERIES):
        services.order_set_status(order=order, status="returned")

    member.refresh_from_db()
    assert (member.order_count, member.total_spent) == (1, Decimal("40.00"))
    assert LoyaltyAccount.objects.get(customer=member).lifetime_earned == 40


def test_counts_do_not_grow_with_history(member, assert_queries):
    for _ in range(30):
        OrderFactory(customer=member, status="delivered")
    order = OrderFactory(customer=member)

    with assert_queries(DELIVERY_QUERIES):
        services.order_set_status(order=order, status="delivered")
    with assert_queries(RETURN_QUERIES):
        services.order_set_status(order=order, status="returned")

    assert Customer.objects.get(pk=member.pk).order_count == 31


def test_a_first_delivery_that_enrols_the_customer(assert_queries):
    """Once per customer and program: the account is opened (with a savepoint, since a
    concurrent enrolment may open it first) and the tiers read; pinned apart from the budget."""
    standard_tiers(LoyaltyProgramFactory())
    order = OrderFactory(customer=CustomerFactory(), total=Decimal("75.00"))

    with assert_queries(FIRST_DELIVERY_QUERIES):
        services.order_set_status(order=order, status="delivered")

    assert LoyaltyAccount.objects.get(customer=order.customer).lifetime_earned == 75
