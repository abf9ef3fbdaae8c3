"""The changelists of big tables (core.admin, core.paginators): a count that stops at the cap and
says "more than", the planner's estimate that says "about", and the queries of a page."""

import pytest
from django.db import connection
from django.urls import reverse

from core.admin import EstimatedCountPaginator
from customers.models import Customer
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

CUSTOMERS_URL = reverse("admin:customers_customer_changelist")


def make_customers(count: int) -> None:
    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="Moss", status="active")
        for number in range(count)
    )


def test_the_admin_paginator_is_the_one_of_core_paginators():
    from core import paginators

    assert EstimatedCountPaginator is paginators.EstimatedCountPaginator


def test_a_changelist_past_the_cap_says_more_than_and_offers_no_show_all(admin_client, settings):
    settings.CRM_LIST_COUNT_CAP = 55
    make_customers(60)

    response = admin_client.get(CUSTOMERS_URL, {"status__exact": "active"})

    changelist = response.context["cl"]
    assert changelist.paginator.capped
    assert changelist.paginator.num_pages == 2
    assert len(changelist.result_list) == 50
    paginator_line = response.content.decode().split('class="paginator"')[1].split("</p>")[0]
    assert "more than 55 customers" in paginator_line
    assert "Show all" not in paginator_line


def test_a_search_past_the_cap_says_more_than_beside_the_search_box(admin_client, settings):
    settings.CRM_LIST_COUNT_CAP = 55
    make_customers(60)

    response = admin_client.get(CUSTOMERS_URL, {"q": "C"})

    toolbar = response.content.decode().split('id="toolbar"')[1].split("</form>")[0]
    assert "more than 55 results" in toolbar
    assert "55 results" not in toolbar.replace("more than 55 results", "")


def test_a_changelist_within_the_cap_is_counted_exactly(admin_client, settings):
    settings.CRM_LIST_COUNT_CAP = 55
    make_customers(3)

    response = admin_client.get(CUSTOMERS_URL, {"status__exact": "active"})

    paginator_line = response.content.decode().split('class="paginator"')[1].split("</p>")[0]
    assert not response.context["cl"].paginator.capped
    assert "\n3 customers" in paginator_line


@pytest.mark.parametrize(
    ("model", "query"),
    [
        ("customer", {}),
        ("customer", {"status__exact": "active"}),
        ("customer", {"q": "moss"}),
        ("order", {}),
        ("order", {"status__exact": "pending"}),
    ],
)
def test_changelist_queries_are_pinned(admin_client, assert_queries, vendor, model, query):
    for _ in range(3):
        OrderFactory(customer=CustomerFactory(last_name="Moss"), status="pending")
    statistics = vendor == "postgresql" and not query

    # session, user, the count (up to the cap when filtered; on PostgreSQL, unfiltered: the
    # table's statistics first), the page's rows with their customer
    with assert_queries(4 + statistics) as queries:
        response = admin_client.get(reverse(f"admin:customers_{model}_changelist"), query)

    assert len(response.context["cl"].result_list) == 3
    count = queries.captured_queries[2 + statistics]["sql"]
    assert "ORDER BY" not in count
    if not query:  # a whole small table: counted to the end
        assert count.startswith('SELECT COUNT(*) AS "__count" FROM') and "LIMIT" not in count
        return
    # A search on PostgreSQL reads its matches as planned in full, then counts up to the cap.
    materialised = vendor == "postgresql" and "q" in query
    assert count.startswith(
        "WITH matches AS MATERIALIZED (SELECT" if materialised else "SELECT COUNT(*) FROM (SELECT"
    )
    assert "LIMIT 1001" in count


@pytest.mark.postgres
def test_a_whole_big_table_says_about_and_a_filtered_one_more_than(
    admin_client, settings, monkeypatch
):
    settings.CRM_LIST_COUNT_CAP = 55
    make_customers(60)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 60)

    everything = admin_client.get(CUSTOMERS_URL)
    filtered = admin_client.get(CUSTOMERS_URL, {"status__exact": "active"})

    assert everything.context["cl"].paginator.estimated
    assert "about 60 customers" in everything.content.decode()
    assert filtered.context["cl"].paginator.capped
    assert "more than 55 customers" in filtered.content.decode()
