"""customers/sales.py: the nightly sales rollup the dashboard's charts read."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers import dashboard, services
from customers.models import Customer, Order, SalesDay
from customers.sales import sales_days_rebuild
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db


def delivered(customer, days_ago: int, total: str) -> Order:
    return OrderFactory(
        customer=customer,
        status="delivered",
        total=Decimal(total),
        placed_at=timezone.now() - timedelta(days=days_ago),
    )


@pytest.fixture
def shop():
    ada, bob = CustomerFactory(), CustomerFactory()
    delivered(ada, 70, "10.00")
    delivered(ada, 40, "15.50")
    delivered(bob, 40, "4.50")
    delivered(bob, 0, "99.00")  # today: never in the rollup
    OrderFactory(customer=bob, status="cancelled", total=Decimal("7.00"))
    return ada, bob


def test_the_rebuild_keeps_each_day_before_today(shop):
    assert sales_days_rebuild() == 2

    forty = SalesDay.objects.get(day=timezone.localdate() - timedelta(days=40))
    assert (forty.revenue, forty.orders, forty.new_customers) == (Decimal("20.00"), 2, 1)
    assert not SalesDay.objects.filter(day=timezone.localdate()).exists()


def test_the_charts_read_the_same_with_the_rollup_as_without(shop):
    customers, orders = Customer.objects.all(), Order.objects.all()
    live = (dashboard.revenue_by_month(orders), dashboard.new_customers_by_month(customers))

    sales_days_rebuild()

    assert (dashboard.revenue_by_month(orders), dashboard.new_customers_by_month(customers)) == live


def test_today_is_live_and_an_older_change_waits_for_the_next_rebuild(shop):
    ada, _ = shop
    sales_days_rebuild()
    old = Order.objects.filter(customer=ada).order_by("placed_at").first()

    delivered(ada, 0, "1.00")
    services.order_set_status(order=old, status="returned")
    this_month = dashboard.revenue_by_month(Order.objects.all())[-1]["revenue"]
    before_rebuild = sum(row["revenue"] for row in dashboard.revenue_by_month(Order.objects.all()))

    sales_days_rebuild()

    after = sum(row["revenue"] for row in dashboard.revenue_by_month(Order.objects.all()))
    assert this_month >= Decimal("100.00")  # today's two orders, counted live
    assert before_rebuild - after == Decimal("10.00")  # the return shows after the rebuild


def test_the_chart_says_where_its_figures_come_from(client_with_perms, shop):
    sales_days_rebuild()

    page = client_with_perms("customers.view_order").get(reverse("home")).content.decode()

    assert "from the nightly sales summary" in page
