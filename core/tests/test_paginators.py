"""The paginators of big lists: a count that stops at the cap, the planner's estimate for a whole
big table on PostgreSQL, and pages fetched by their ids first."""

import pytest
from django.db import connection
from django.db.models import Prefetch
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from core.paginators import EstimatedCountPaginator, IdsFirstPaginator
from customers.models import Customer, Tag
from customers.tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db


def make_customers(count: int) -> None:
    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="") for number in range(count)
    )


def by_name():
    return Customer.objects.order_by("last_name", "first_name", "id")


# The capped count


@override_settings(CRM_LIST_COUNT_CAP=5)
def test_a_list_within_the_cap_is_counted_exactly():
    make_customers(5)

    paginator = EstimatedCountPaginator(by_name(), 2)

    assert paginator.count == 5
    assert not paginator.capped
    assert not paginator.estimated
    assert paginator.num_pages == 3


@override_settings(CRM_LIST_COUNT_CAP=5)
def test_a_list_past_the_cap_counts_to_the_cap_and_has_only_its_pages():
    make_customers(9)

    paginator = EstimatedCountPaginator(by_name().filter(last_name=""), 2)
    past_the_cap = paginator.get_page(5)

    assert paginator.count == 5
    assert paginator.capped
    assert not paginator.estimated
    assert paginator.num_pages == 3
    assert past_the_cap.number == 3
    assert [customer.first_name for customer in past_the_cap] == ["C04"]
    assert not past_the_cap.has_next()


@override_settings(CRM_LIST_COUNT_CAP=5)
def test_a_filtered_list_is_capped_too():
    make_customers(9)

    paginator = EstimatedCountPaginator(by_name().filter(first_name__gte="C02"), 2)

    assert paginator.count == 5
    assert paginator.capped


@override_settings(CRM_LIST_COUNT_CAP=5)
def test_the_count_is_one_query_that_stops_after_the_cap_and_sorts_nothing(assert_queries):
    make_customers(9)
    paginator = EstimatedCountPaginator(by_name().filter(first_name__gte="C00"), 2)

    with assert_queries(1) as queries:
        assert paginator.count == 5

    sql = queries.captured_queries[0]["sql"]
    assert sql.startswith("SELECT COUNT(*) FROM (SELECT")
    assert "LIMIT 6" in sql
    assert "ORDER BY" not in sql


def test_a_list_of_rows_in_memory_is_counted_exactly():
    paginator = EstimatedCountPaginator(list(range(5000)), 25)

    assert paginator.count == 5000
    assert not paginator.capped


# The planner's estimate, PostgreSQL only


@pytest.mark.postgres
@override_settings(CRM_LIST_COUNT_CAP=2)
def test_a_whole_big_table_is_counted_from_the_statistics_and_a_filtered_list_is_capped(
    monkeypatch, assert_queries
):
    make_customers(4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 4)

    everything = EstimatedCountPaginator(by_name(), 2)
    filtered = EstimatedCountPaginator(by_name().filter(first_name__gte="C00"), 2)

    with assert_queries(1):
        assert everything.count == 4
    assert everything.estimated
    assert not everything.capped
    assert filtered.count == 2
    assert filtered.capped
    assert not filtered.estimated


@pytest.mark.postgres
@override_settings(CRM_LIST_COUNT_CAP=2)
def test_a_whole_table_below_the_estimate_threshold_is_counted_exactly(assert_queries):
    make_customers(4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    paginator = EstimatedCountPaginator(by_name(), 2)

    # The statistics, then the count: the cap is for matches, not for the whole shop.
    with assert_queries(2):
        assert paginator.count == 4
    assert not paginator.capped
    assert not paginator.estimated


# Pages by their ids first


def test_an_ids_first_page_keeps_the_order_and_the_prefetched_tags(assert_queries):
    gold, vip = TagFactory(name="Gold"), TagFactory(name="VIP")
    for last_name in ["Young", "Abbott", "Moss", "Hart", "Carter"]:
        CustomerFactory(last_name=last_name, first_name="Sam").tags.add(vip, gold)
    # Filtered, so PostgreSQL counts rather than reads its statistics: the same queries on both.
    customers = by_name().filter(first_name="Sam")
    tagged = customers.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    paginator = IdsFirstPaginator(tagged, 2)

    # count, the page's ids, its rows, their tags
    with assert_queries(4) as queries:
        page = paginator.page(2)
        shown = [
            (customer.last_name, [tag.name for tag in customer.tags.all()]) for customer in page
        ]

    assert shown == [("Hart", ["Gold", "VIP"]), ("Moss", ["Gold", "VIP"])]
    ids_sql = queries.captured_queries[1]["sql"]
    assert ids_sql.split(" FROM ")[0] == 'SELECT "customers_customer"."id" AS "pk"'
    assert "LIMIT 2 OFFSET 2" in ids_sql
    assert "IN (" in queries.captured_queries[2]["sql"]


def test_an_ids_first_page_of_a_filtered_list_shows_only_matches_in_order():
    make_customers(12)
    paginator = IdsFirstPaginator(
        by_name().filter(first_name__gte="C05").order_by("-first_name"), 3
    )

    page = paginator.get_page(2)

    assert [customer.first_name for customer in page] == ["C08", "C07", "C06"]
    assert len(page) == 3
    assert page.start_index() == 4


def test_an_empty_ids_first_page_asks_for_nothing_but_the_count(assert_queries):
    paginator = IdsFirstPaginator(by_name().filter(first_name="Sam"), 25)

    with assert_queries(1):
        page = paginator.get_page(1)

    assert list(page) == []
    assert paginator.count == 0


def test_an_ids_first_page_fetches_its_rows_by_key_alone():
    """The second query does not repeat the list's filters (a search's, say), only the keys."""
    for name in ("Ann", "Annette", "Bob"):
        CustomerFactory(first_name=name, last_name="Searched")
    matches = Customer.objects.filter(first_name__icontains="ann").order_by("first_name", "id")

    with CaptureQueriesContext(connection) as queries:
        page = IdsFirstPaginator(matches, 25).page(1)
        names = [customer.first_name for customer in page.object_list]

    assert names == ["Ann", "Annette"]
    rows_query = queries.captured_queries[-1]["sql"]
    assert "LIKE" not in rows_query.upper() and " IN (" in rows_query


@pytest.mark.postgres
def test_a_search_is_counted_from_its_matches_planned_in_full(settings):
    """Planned with the cap in view, a search walks the table rather than its trigram indexes."""
    settings.CRM_LIST_COUNT_CAP = 2
    for name in ("Ann", "Annette", "Anne", "Bob"):
        CustomerFactory(first_name=name, last_name="Searched")
    matches = Customer.objects.filter(first_name__icontains="ann")

    with CaptureQueriesContext(connection) as queries:
        paginator = EstimatedCountPaginator(matches, 25, search=True)
        count = paginator.count

    assert (count, paginator.capped) == (2, True)
    assert queries.captured_queries[0]["sql"].startswith("WITH matches AS MATERIALIZED (SELECT")
    assert EstimatedCountPaginator(matches, 25, search=True).count == 2
    settings.CRM_LIST_COUNT_CAP = 10
    assert EstimatedCountPaginator(matches, 25, search=True).count == 3


@pytest.mark.postgres
def test_a_search_that_can_match_nothing_counts_zero():
    CustomerFactory(first_name="Ann")

    assert EstimatedCountPaginator(Customer.objects.none(), 25, search=True).count == 0


@pytest.mark.postgres
@override_settings(CRM_LIST_COUNT_CAP=3)
def test_a_capped_search_pages_through_a_sample_of_its_matches_in_the_lists_order():
    """Sorting every match of a common name would grow with the matches: a capped search keeps
    the first matches found and shows those, sorted."""
    for name in ("Ann E", "Ann D", "Ann C", "Ann B", "Ann A", "Bob"):
        CustomerFactory(first_name=name.split()[0], last_name=name.split()[-1])
    matches = Customer.objects.filter(first_name__icontains="ann").order_by("last_name", "id")

    paginator = EstimatedCountPaginator(matches, 2, search=True)
    first, second = paginator.page(1), paginator.page(2)
    shown = [c.last_name for c in [*first.object_list, *second.object_list]]

    assert (paginator.count, paginator.capped, len(paginator.sample)) == (3, True, 3)
    assert shown == sorted(shown) and len(shown) == 3
    assert set(shown) <= {"A", "B", "C", "D", "E"}
    assert not second.has_next()
