import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core import registry
from customers.models import Customer
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
)

pytestmark = pytest.mark.django_db

CUSTOMER_CARDS = ("customer-kpis", "revenue-chart", "new-customers-chart", "top-customers")


def delivered(customer, days_ago, total="50.00"):
    return OrderFactory(
        customer=customer,
        status="delivered",
        placed_at=timezone.now() - timedelta(days=days_ago),
        total=Decimal(total),
    )


def json_script_data(html, element_id):
    """What the chart script reads: the JSON in the page's json_script element."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html)
    assert match, f"no #{element_id} on the page"
    return json.loads(match.group(1))


def kpi_text(html, key):
    """The visible text of one KPI tile, tags stripped and spaces collapsed."""
    start = html.index(">", html.index(f'data-kpi="{key}"')) + 1
    next_tile = html.find("data-kpi=", start)
    end = html.rindex("<", start, next_tile) if next_tile != -1 else len(html)
    return " ".join(re.sub(r"<[^>]+>", " ", html[start:end]).split())


def card_keys(response):
    return [card.key for card, _ in response.context["cards"]]


def page(response):
    return response.content.decode()


def build_shop(customers):
    """Customers with two delivered orders months apart, a follow-up and a pending address."""
    today = timezone.localdate()
    for index in range(customers):
        customer = CustomerFactory()
        delivered(customer, days_ago=20 + index * 7, total=f"{100 + index}.00")
        delivered(customer, days_ago=5 + index, total="25.00")
        NoteFactory(customer=customer, follow_up_on=today - timedelta(days=index % 3))
        AddressFactory(customer=customer)
    Customer.objects.filter(pk__in=Customer.objects.values("pk")[: customers // 2]).update(
        predicted_clv=Decimal("300.00")
    )


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_permissions_sees_a_friendly_message_and_no_customer_data(client_with_perms):
    customer = CustomerFactory(first_name="Zebulon", last_name="Quartermain")
    delivered(customer, days_ago=3, total="4321.00")
    client = client_with_perms()

    response = client.get(reverse("home"))

    assert response.status_code == 200
    assert card_keys(response) == []
    html = page(response)
    assert "nothing to show on the dashboard for your role" in html
    assert "Quartermain" not in html
    assert "4,321" not in html
    assert "chart-revenue" not in html
    assert "chart.umd.min.js" not in html


def test_marketing_sees_the_customer_cards_but_not_the_address_queue(client_in_group):
    customer = CustomerFactory(first_name="Zebulon", last_name="Quartermain")
    delivered(customer, days_ago=3, total="4321.00")
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    assert response.status_code == 200
    keys = card_keys(response)
    assert set(CUSTOMER_CARDS) <= set(keys)
    assert "follow-ups" in keys  # Marketing may read notes
    assert "address-queue" not in keys
    html = page(response)
    assert "Zebulon Quartermain" in html
    assert 'id="chart-revenue"' in html
    assert 'id="chart-new-customers"' in html
    assert "nothing to show" not in html


def test_each_card_needs_its_own_permission(client_with_perms):
    client = client_with_perms("customers.view_note")

    response = client.get(reverse("home"))

    assert card_keys(response) == ["follow-ups"]
    assert reverse("customers:follow_ups") in page(response)


def test_cards_come_in_their_registered_order_including_other_apps_cards(
    client_in_group, monkeypatch
):
    extra = registry.DashboardCard(
        key="extra",
        title="A card from another app",
        template="customers/cards/follow_ups.html",
        context=lambda request: {"follow_ups": {"due": 7, "overdue": 0}},
        order=15,
    )
    hidden = registry.DashboardCard(
        key="hidden",
        title="Needs a permission Marketing lacks",
        template="customers/cards/follow_ups.html",
        context=lambda request: {"follow_ups": {"due": 9, "overdue": 0}},
        permission="customers.delete_customer",
    )
    monkeypatch.setitem(registry._dashboard_cards, extra.key, extra)
    monkeypatch.setitem(registry._dashboard_cards, hidden.key, hidden)
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    assert card_keys(response) == [
        "customer-kpis",
        "extra",
        "follow-ups",
        "revenue-chart",
        "new-customers-chart",
        "top-customers",
        "rfm-segments",
        "analytics-last-run",
        "at-risk",
    ]
    html = page(response)
    assert html.index('id="card-customer-kpis"') < html.index('id="card-extra"')
    assert html.index('id="card-extra"') < html.index('id="card-follow-ups"')
    assert "A card from another app" in html
    assert "Needs a permission Marketing lacks" not in html


def test_kpi_card_shows_counts_money_and_rates(client_in_group, settings):
    settings.CRM_CURRENCY = "EUR"
    regular = CustomerFactory()
    delivered(regular, days_ago=200, total="3000.00")
    delivered(regular, days_ago=5, total="1000.00")
    newcomer = CustomerFactory()
    delivered(newcomer, days_ago=10, total="500.00")
    lapsed = CustomerFactory()
    delivered(lapsed, days_ago=120, total="1500.00")
    CustomerFactory()
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    kpis = response.context["kpis"]
    assert (kpis["total"], kpis["active"], kpis["new"], kpis["churned"]) == (4, 2, 1, 1)
    html = page(response)
    # 6,000 over 4 delivered orders
    assert "EUR 1,500.00 EUR 6,000.00 over 4 orders" in kpi_text(html, "average-order-value")
    assert "33.3% 1 of 3 ordered twice or more" in kpi_text(html, "repeat-rate")
    assert "Total customers 4 3 have ordered" in kpi_text(html, "total")


def test_average_clv_shows_a_dash_until_the_first_analytics_run(client_in_group):
    delivered(CustomerFactory(), days_ago=3)
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    assert response.context["kpis"]["average_clv"] is None
    assert kpi_text(page(response), "average-clv") == (
        "Average CLV — after the first nightly analytics run"
    )


def test_average_clv_shows_the_mean_of_scored_customers(client_in_group, settings):
    settings.CRM_CURRENCY = "USD"
    first, second, _unscored = CustomerFactory(), CustomerFactory(), CustomerFactory()
    Customer.objects.filter(pk=first.pk).update(predicted_clv=Decimal("1000.00"))
    Customer.objects.filter(pk=second.pk).update(predicted_clv=Decimal("1500.00"))
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    tile = kpi_text(page(response), "average-clv")
    assert "USD 1,250.00" in tile
    assert "2 scored" in tile
    assert "after the first nightly analytics run" not in tile


def test_follow_up_and_address_cards_count_and_link_to_their_queues(client_in_group):
    today = timezone.localdate()
    NoteFactory(follow_up_on=today)
    NoteFactory(follow_up_on=today - timedelta(days=2))
    NoteFactory(follow_up_on=today + timedelta(days=2))
    AddressFactory.create_batch(3)
    AddressFactory(verification_status="rejected")
    client = client_in_group("Managers")

    response = client.get(reverse("home"))

    assert response.context["follow_ups"] == {"due": 2, "overdue": 1}
    assert response.context["addresses"]["pending"] == 3
    html = page(response)
    assert reverse("customers:follow_ups") in html
    assert reverse("customers:address_queue") in html
    assert "1 overdue" in html


def test_revenue_chart_data_covers_twelve_months_for_the_chart_script(client_in_group):
    customer = CustomerFactory()
    delivered(customer, days_ago=0, total="1234.50")
    delivered(customer, days_ago=0, total="10.00")
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    html = page(response)
    assert "vendor/chartjs-4.5.1/chart.umd.min.js" in html
    assert "js/dashboard.js" in html
    chart = json_script_data(html, "chart-revenue-data")
    assert len(chart["months"]) == len(chart["labels"]) == 12
    assert chart["months"][-1] == timezone.localdate().strftime("%Y-%m")
    assert chart["revenue"][-1] == "1244.50"
    assert chart["revenue"][:-1] == ["0.00"] * 11
    assert chart["orders"] == [0] * 11 + [2]


def test_new_customers_chart_data_counts_first_orders(client_in_group):
    delivered(CustomerFactory(), days_ago=0)
    returning = CustomerFactory()
    delivered(returning, days_ago=0)
    delivered(returning, days_ago=400)
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    chart = json_script_data(page(response), "chart-new-customers-data")
    assert chart["customers"] == [0] * 11 + [1]


def test_top_customers_link_to_their_pages_with_thousands_separators(client_in_group):
    big = CustomerFactory(first_name="Ada", last_name="Lovelace")
    delivered(big, days_ago=4, total="12345.60")
    for index in range(11):
        delivered(CustomerFactory(), days_ago=index + 1, total=f"{index + 1}.00")
    client = client_in_group("Marketing")

    response = client.get(reverse("home"))

    customers = response.context["customers"]
    assert len(customers) == 10
    assert customers[0] == big
    html = page(response)
    assert reverse("customers:detail", args=[big.pk]) in html
    assert "12,345.60" in html


def test_dashboard_queries_do_not_grow_with_the_data(client_in_group, assert_queries):
    client = client_in_group("Managers")
    build_shop(40)

    # Session, the user with their permissions, then one query per card (two for loyalty's).
    with assert_queries(13):
        response = client.get(reverse("home"))
    assert response.status_code == 200
    with CaptureQueriesContext(connection) as small:
        client.get(reverse("home"))

    build_shop(40)
    with CaptureQueriesContext(connection) as large:
        response = client.get(reverse("home"))

    assert len(response.context["customers"]) == 10
    assert response.context["kpis"]["total"] == 80
    assert len(large.captured_queries) == len(small.captured_queries)
