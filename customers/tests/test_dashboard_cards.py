from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import RequestFactory
from django.utils import timezone

from customers import dashboard
from customers.models import Customer, Order
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime(2025, 6, 15, 12, 0))


def at(year, month, day, hour=12):
    return timezone.make_aware(datetime(year, month, day, hour))


def delivered(customer, placed_at, total="50.00"):
    return OrderFactory(
        customer=customer, status="delivered", placed_at=placed_at, total=Decimal(total)
    )


def days_ago(days):
    return NOW - timedelta(days=days)


@pytest.fixture
def small_shop():
    """Five customers whose KPIs are easy to count by hand."""
    regular = CustomerFactory(first_name="Regular")
    delivered(regular, days_ago(200), "300.00")
    delivered(regular, days_ago(5), "100.00")
    newcomer = CustomerFactory(first_name="Newcomer")
    delivered(newcomer, days_ago(10), "50.00")
    lapsed = CustomerFactory(first_name="Lapsed")
    delivered(lapsed, days_ago(120), "150.00")
    quiet = CustomerFactory(first_name="Quiet")
    delivered(quiet, days_ago(60), "100.00")
    prospect = CustomerFactory(first_name="Prospect")
    OrderFactory(customer=prospect, status="pending", placed_at=days_ago(3), total=Decimal("80"))
    return {"regular": regular, "newcomer": newcomer, "lapsed": lapsed, "quiet": quiet}


def test_customer_kpis_count_active_new_churned_and_repeat(small_shop):
    kpis = dashboard.customer_kpis(Customer.objects.all(), now=NOW)

    assert kpis["total"] == 5
    assert kpis["active"] == 2  # regular and newcomer ordered in the last 30 days
    assert kpis["new"] == 1  # only the newcomer's first order is that recent
    assert kpis["churned"] == 1  # lapsed: last order 120 days ago
    assert kpis["buyers"] == 4
    assert kpis["repeat_buyers"] == 1
    assert kpis["repeat_rate"] == Decimal("25.0")


def test_customer_kpis_average_order_value_is_revenue_over_delivered_orders(small_shop):
    kpis = dashboard.customer_kpis(Customer.objects.all(), now=NOW)

    assert kpis["revenue"] == Decimal("700.00")
    assert kpis["delivered_orders"] == 5
    assert kpis["average_order_value"] == Decimal("140.00")


def test_customer_kpis_leave_out_orders_that_were_not_delivered():
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="pending", placed_at=days_ago(1))
    OrderFactory(customer=customer, status="cancelled", placed_at=days_ago(2))

    kpis = dashboard.customer_kpis(Customer.objects.all(), now=NOW)

    assert kpis["total"] == 1
    assert kpis["active"] == 0
    assert kpis["buyers"] == 0
    assert kpis["average_order_value"] is None
    assert kpis["repeat_rate"] is None


def test_average_clv_is_unknown_until_customers_are_scored(small_shop):
    kpis = dashboard.customer_kpis(Customer.objects.all(), now=NOW)

    assert kpis["average_clv"] is None
    assert kpis["scored"] == 0


def test_average_clv_is_the_mean_over_scored_customers_only(small_shop):
    Customer.objects.filter(pk=small_shop["regular"].pk).update(predicted_clv=Decimal("400.00"))
    Customer.objects.filter(pk=small_shop["newcomer"].pk).update(predicted_clv=Decimal("150.50"))

    kpis = dashboard.customer_kpis(Customer.objects.all(), now=NOW)

    assert kpis["scored"] == 2
    assert kpis["average_clv"] == Decimal("275.25")


def test_customer_kpis_take_one_query(small_shop, django_assert_num_queries):
    with django_assert_num_queries(1):
        dashboard.customer_kpis(Customer.objects.all(), now=NOW)


def test_revenue_by_month_has_twelve_months_with_zeros_where_nothing_was_delivered():
    customer = CustomerFactory()
    delivered(customer, at(2025, 6, 2), "100.00")
    delivered(customer, at(2025, 6, 10), "20.50")
    delivered(customer, at(2025, 3, 31, 23), "30.00")
    delivered(customer, at(2024, 7, 1, 0), "40.00")
    delivered(customer, at(2024, 6, 30, 23), "999.00")  # the month before the window
    OrderFactory(customer=customer, status="pending", placed_at=at(2025, 5, 5), total=5)
    OrderFactory(customer=customer, status="cancelled", placed_at=at(2025, 5, 6), total=7)

    series = dashboard.revenue_by_month(Order.objects.all(), now=NOW)

    assert [row["month"].isoformat() for row in series] == [
        "2024-07-01",
        "2024-08-01",
        "2024-09-01",
        "2024-10-01",
        "2024-11-01",
        "2024-12-01",
        "2025-01-01",
        "2025-02-01",
        "2025-03-01",
        "2025-04-01",
        "2025-05-01",
        "2025-06-01",
    ]
    by_month = {row["month"].strftime("%Y-%m"): (row["revenue"], row["orders"]) for row in series}
    assert by_month["2025-06"] == (Decimal("120.50"), 2)
    assert by_month["2025-03"] == (Decimal("30.00"), 1)
    assert by_month["2024-07"] == (Decimal("40.00"), 1)
    assert by_month["2025-05"] == (Decimal("0.00"), 0)
    assert sum(orders for _, orders in by_month.values()) == 4


def test_months_follow_the_shops_time_zone(settings):
    settings.TIME_ZONE = "America/New_York"
    customer = CustomerFactory()
    # 02:00 on 1 June in UTC is still 31 May in New York.
    delivered(customer, datetime(2025, 6, 1, 2, tzinfo=UTC), "70.00")
    now = datetime(2025, 6, 15, 12, tzinfo=UTC)

    revenue = {
        row["month"].strftime("%Y-%m"): row["revenue"]
        for row in dashboard.revenue_by_month(Order.objects.all(), now=now)
    }
    newcomers = {
        row["month"].strftime("%Y-%m"): row["customers"]
        for row in dashboard.new_customers_by_month(Customer.objects.all(), now=now)
    }

    assert (revenue["2025-05"], revenue["2025-06"]) == (Decimal("70.00"), Decimal("0.00"))
    assert (newcomers["2025-05"], newcomers["2025-06"]) == (1, 0)


def test_revenue_by_month_is_one_query_beside_the_rollup(django_assert_num_queries):
    delivered(CustomerFactory(), at(2025, 1, 10))

    with django_assert_num_queries(2):  # the rollup's days, then the orders since
        dashboard.revenue_by_month(Order.objects.all(), now=NOW)


def test_new_customers_by_month_counts_each_customer_in_the_month_of_the_first_order():
    twice = CustomerFactory()
    delivered(twice, at(2025, 2, 3))
    delivered(twice, at(2025, 4, 3))
    delivered(CustomerFactory(), at(2025, 2, 20))
    delivered(CustomerFactory(), at(2025, 6, 1))
    older = CustomerFactory()
    delivered(older, at(2024, 5, 1))  # first order before the window
    delivered(older, at(2025, 4, 9))
    CustomerFactory()  # never ordered

    series = dashboard.new_customers_by_month(Customer.objects.all(), now=NOW)

    counts = {row["month"].strftime("%Y-%m"): row["customers"] for row in series}
    assert len(series) == 12
    assert counts["2025-02"] == 2
    assert counts["2025-04"] == 0
    assert counts["2025-06"] == 1
    assert sum(counts.values()) == 3


def test_top_customers_are_the_ten_biggest_spenders_highest_first():
    spenders = [CustomerFactory() for _ in range(12)]
    for rank, customer in enumerate(spenders, start=1):
        delivered(customer, days_ago(rank), f"{rank * 10}.00")
    CustomerFactory()  # no orders

    top = list(dashboard.top_customers(Customer.objects.all()))

    assert top == spenders[::-1][:10]
    assert [customer.total_spent for customer in top][:2] == [Decimal("120.00"), Decimal("110.00")]


def test_follow_up_counts_open_notes_due_today_or_earlier():
    today = timezone.localdate()
    NoteFactory(follow_up_on=today)
    NoteFactory(follow_up_on=today - timedelta(days=3))
    NoteFactory(follow_up_on=today + timedelta(days=1))
    NoteFactory(follow_up_on=today - timedelta(days=1), done=True)
    NoteFactory(follow_up_on=None)

    counts = dashboard.follow_up_counts(UserFactory(), today=today)

    assert counts == {"due": 2, "overdue": 1}


def test_address_card_counts_pending_addresses():
    AddressFactory.create_batch(2)
    AddressFactory(verification_status="verified", verified_at=timezone.now())

    request = RequestFactory().get("/")
    request.user = UserFactory()
    context = dashboard.addresses_card(request)

    assert context["addresses"]["pending"] == 2
    assert context["addresses"]["verified_this_week"] == 1


def test_top_customers_leave_out_customers_who_never_bought():
    buyer = CustomerFactory()
    delivered(buyer, days_ago(3), "20.00")
    CustomerFactory()

    assert list(dashboard.top_customers(Customer.objects.all())) == [buyer]
