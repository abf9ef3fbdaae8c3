"""The staff customer list: search, filters, sorting, pages, permissions and query count."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.analytics.scores import score_table_rebuild
from customers.models import Customer, Order
from customers.tests.factories import CustomerFactory, OrderFactory, TagFactory

pytestmark = pytest.mark.django_db

LIST_URL = reverse("customers:list")


@pytest.fixture
def staff_client(client_with_perms):
    return client_with_perms("customers.view_customer")


def listed(response) -> list[str]:
    """The names on the page, in the order shown."""
    return [customer.full_name for customer in response.context["customers"]]


# Permissions


def test_anonymous_user_is_sent_to_login(client):
    CustomerFactory(first_name="Ada", last_name="Lovelace")

    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_user_without_view_permission_gets_403_and_no_customer_data(client_with_perms):
    CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com")
    client = client_with_perms("customers.view_order")

    response = client.get(LIST_URL)

    assert response.status_code == 403
    body = response.content.decode()
    assert "Lovelace" not in body
    assert "ada@example.com" not in body


def test_support_group_member_sees_the_list(client_in_group):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")
    client = client_in_group("Support")

    response = client.get(LIST_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Ada Lovelace" in body
    assert reverse("customers:detail", args=[customer.pk]) in body


def test_new_customer_button_only_for_users_who_may_add(client_with_perms):
    create_url = reverse("customers:create")

    view_only = client_with_perms("customers.view_customer").get(LIST_URL)
    may_add = client_with_perms("customers.view_customer", "customers.add_customer").get(LIST_URL)

    assert create_url not in view_only.content.decode()
    assert create_url in may_add.content.decode()


# Search


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("anna", ["Joanna Brown", "Annabel Smith"]),
        ("SMI", ["Annabel Smith", "Carl Smithers"]),
        ("ann smi", ["Annabel Smith"]),
        ("smith annabel", ["Annabel Smith"]),
        ("carl nobody", []),
    ],
)
def test_search_by_part_of_the_name_every_word_must_match(staff_client, query, expected):
    CustomerFactory(first_name="Annabel", last_name="Smith")
    CustomerFactory(first_name="Carl", last_name="Smithers")
    CustomerFactory(first_name="Joanna", last_name="Brown")

    response = staff_client.get(LIST_URL, {"q": query})

    assert listed(response) == expected


def test_search_by_part_of_the_email(staff_client):
    CustomerFactory(first_name="Ada", last_name="L", email="ada.lovelace@engines.example")
    CustomerFactory(first_name="Grace", last_name="H", email="grace@navy.example")

    response = staff_client.get(LIST_URL, {"q": "@ENGINES"})

    assert listed(response) == ["Ada L"]


def test_search_by_part_of_the_external_id(staff_client):
    CustomerFactory(first_name="Ada", last_name="L", external_id="POS-00917", phone="+14155550134")
    CustomerFactory(
        first_name="Grace", last_name="H", external_id="POS-12000", phone="+14155550188"
    )

    response = staff_client.get(LIST_URL, {"q": "pos-009"})

    assert listed(response) == ["Ada L"]


def test_a_search_without_letters_is_one_number_not_separate_words(staff_client):
    """ "0134 555" is not 555-0134: its groups are not looked for each on their own."""
    CustomerFactory(first_name="Ada", last_name="L", phone="+14155550134", external_id="00917")
    CustomerFactory(first_name="Grace", last_name="H", phone="+14155559999", external_id="1-2")

    assert listed(staff_client.get(LIST_URL, {"q": "0134 555"})) == []
    assert listed(staff_client.get(LIST_URL, {"q": "555 0134"})) == ["Ada L"]
    assert listed(staff_client.get(LIST_URL, {"q": "0091"})) == ["Ada L"]  # an external ID


@pytest.mark.parametrize(
    "query", ["(415) 555-01", "555 0134", "415.555.0134", "+1 415 555 0134", "555 01"]
)
def test_search_by_part_of_a_phone_number_typed_in_any_format(staff_client, query):
    CustomerFactory(first_name="Ada", last_name="L", phone="+14155550134", email="a@example.com")
    CustomerFactory(first_name="Grace", last_name="H", phone="+14155559999", email="g@example.com")

    response = staff_client.get(LIST_URL, {"q": query})

    assert listed(response) == ["Ada L"]


def test_search_box_keeps_the_query(staff_client):
    response = staff_client.get(LIST_URL, {"q": "ada lovelace"})

    assert 'value="ada lovelace"' in response.content.decode()


# Filters


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"customer_type": ["vip", "wholesale"]}, ["Vip", "Wholesale"]),
        ({"status": "suspended"}, ["Suspended"]),
        ({"source": "referral"}, ["Referred"]),
        ({"has_orders": "true"}, ["Suspended", "Vip", "Wholesale"]),
        ({"has_orders": "false"}, ["Plain", "Referred"]),
        ({"total_spent_min": "100", "total_spent_max": "600"}, ["Suspended", "Vip"]),
        ({"total_spent_max": "99.99"}, ["Plain", "Referred"]),
        ({"order_count_min": "2"}, ["Vip", "Wholesale"]),
        ({"order_count_min": "1", "order_count_max": "2"}, ["Suspended", "Vip"]),
        ({"rfm_segment": ["Champions", "At Risk"]}, ["Suspended", "Vip"]),
        ({"churn_risk_min": "50"}, ["Suspended", "Wholesale"]),
        ({"churn_risk_min": "20", "churn_risk_max": "80"}, ["Suspended", "Vip"]),
        ({"churn_risk_min": "75", "churn_risk_max": "75"}, ["Suspended"]),
        ({"accepts_email": "false"}, ["Referred"]),
        ({"accepts_sms": "true"}, ["Vip", "Wholesale"]),
        ({"accepts_sms": "false", "accepts_email": "true"}, ["Plain", "Suspended"]),
    ],
)
def test_each_filter_narrows_the_list(staff_client, query, expected):
    CustomerFactory(first_name="Plain", last_name="")
    CustomerFactory(first_name="Referred", last_name="", source="referral", accepts_email=False)
    CustomerFactory(
        first_name="Suspended",
        last_name="",
        status="suspended",
        order_count=1,
        total_spent=Decimal("100.00"),
        rfm_segment="At Risk",
        churn_risk=0.75,
        predicted_clv=Decimal("80.00"),
    )
    CustomerFactory(
        first_name="Vip",
        last_name="",
        customer_type="vip",
        order_count=2,
        total_spent=Decimal("600.00"),
        rfm_segment="Champions",
        churn_risk=0.2,
        predicted_clv=Decimal("700.00"),
        accepts_sms=True,
    )
    CustomerFactory(
        first_name="Wholesale",
        last_name="",
        customer_type="wholesale",
        order_count=9,
        total_spent=Decimal("9000.00"),
        rfm_segment="Loyal Customers",
        churn_risk=0.9,
        predicted_clv=Decimal("5000.00"),
        accepts_sms=True,
    )
    score_table_rebuild()  # as the nightly run does after writing scores

    response = staff_client.get(LIST_URL, query)

    assert response.status_code == 200
    assert sorted(listed(response)) == expected


def test_tag_filter_matches_any_chosen_tag_and_lists_each_customer_once(staff_client):
    vip, gold, other = TagFactory(slug="vip"), TagFactory(slug="gold"), TagFactory(slug="other")
    CustomerFactory(first_name="Both", last_name="").tags.add(vip, gold)
    CustomerFactory(first_name="Gold", last_name="").tags.add(gold)
    CustomerFactory(first_name="Untagged", last_name="")
    CustomerFactory(first_name="Other", last_name="").tags.add(other)

    response = staff_client.get(LIST_URL, {"tags": ["vip", "gold"]})

    assert listed(response) == ["Both", "Gold"]
    assert response.context["paginator"].count == 2


def test_days_since_last_order_filter_and_display(staff_client):
    now = timezone.now()
    CustomerFactory(first_name="Recent", last_name="", order_count=1, last_order_at=now)
    CustomerFactory(
        first_name="Ten", last_name="", order_count=1, last_order_at=now - timedelta(days=10)
    )
    CustomerFactory(
        first_name="Forty", last_name="", order_count=1, last_order_at=now - timedelta(days=40)
    )
    CustomerFactory(first_name="Never", last_name="")

    at_least_30 = staff_client.get(LIST_URL, {"days_since_order_min": "30"})
    at_most_10 = staff_client.get(LIST_URL, {"days_since_order_max": "10"})
    between = staff_client.get(LIST_URL, {"days_since_order_min": 10, "days_since_order_max": 39})

    assert listed(at_least_30) == ["Forty"]
    assert sorted(listed(at_most_10)) == ["Recent", "Ten"]
    assert listed(between) == ["Ten"]
    assert "10 days ago" in between.content.decode()


def test_created_between_filter_includes_both_end_days(staff_client):
    today = timezone.localdate()
    for name, days_ago in (("Old", 30), ("Start", 20), ("End", 10), ("New", 0)):
        customer = CustomerFactory(first_name=name, last_name="")
        created_at = timezone.now() - timedelta(days=days_ago)
        Customer.objects.filter(pk=customer.pk).update(created_at=created_at)

    response = staff_client.get(
        LIST_URL,
        {
            "created_from": (today - timedelta(days=20)).isoformat(),
            "created_to": (today - timedelta(days=10)).isoformat(),
        },
    )

    assert sorted(listed(response)) == ["End", "Start"]


def test_filters_are_kept_in_the_form_so_the_url_can_be_shared(staff_client):
    response = staff_client.get(
        LIST_URL, {"status": "inactive", "total_spent_min": "250", "customer_type": "vip"}
    )

    body = response.content.decode()
    assert 'method="get"' in body
    assert '<option value="inactive" selected>' in body
    assert 'name="total_spent_min" value="250"' in body
    assert re.search(r'value="vip"[^>]*checked', body)


def test_clear_link_drops_filters_but_keeps_sort_and_page_size(staff_client):
    response = staff_client.get(
        LIST_URL, {"q": "ada", "status": "active", "sort": "-total_spent", "per_page": "50"}
    )

    assert response.context["clear_url"] == f"{LIST_URL}?sort=-total_spent&per_page=50"


# Bad input


def test_bad_number_shows_the_error_at_the_field_and_lists_nobody(staff_client):
    CustomerFactory(first_name="Ada", last_name="Lovelace")

    response = staff_client.get(LIST_URL, {"total_spent_min": "abc"})

    assert response.status_code == 200
    form = response.context["filter"].form
    assert form.errors == {"total_spent_min": ["Enter a number."]}
    body = response.content.decode()
    assert "Min. spent: Enter a number." in body
    assert 'id="error_1_id_total_spent_min"' in body
    assert "is-invalid" in body
    assert listed(response) == []
    assert "Ada Lovelace" not in body


def test_upper_bound_below_lower_bound_is_reported_on_the_upper_field(staff_client):
    response = staff_client.get(LIST_URL, {"order_count_min": "5", "order_count_max": "2"})

    form = response.context["filter"].form
    assert list(form.errors) == ["order_count_max"]
    assert "Must not be less than" in form.errors["order_count_max"][0]


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        (
            {"days_since_order_min": "999999999"},
            "Min. days since last order: Ensure this value is less than or equal to 36500.",
        ),
        (
            {"days_since_order_max": "99999999999"},
            "Max. days since last order: Ensure this value is less than or equal to 36500.",
        ),
        (
            {"order_count_min": str(2**64)},
            "Min. orders: Ensure this value is less than or equal to 2147483647.",
        ),
        (
            {"total_spent_max": "1e400"},
            "Max. spent: Ensure that there are no more than 14 digits in total.",
        ),
        ({"created_to": "9999-12-31"}, "Created to: Enter a date from 1900-01-01 to 2999-12-31."),
        (
            {"created_from": "0001-01-01"},
            "Created from: Enter a date from 1900-01-01 to 2999-12-31.",
        ),
    ],
)
def test_numbers_and_dates_out_of_range_are_refused_at_their_field(staff_client, query, shown):
    CustomerFactory(first_name="Ada", last_name="Lovelace")

    response = staff_client.get(LIST_URL, query)

    assert response.status_code == 200
    assert list(response.context["filter"].form.errors) == list(query)
    assert shown in response.content.decode()
    assert listed(response) == []


@pytest.mark.parametrize("value", ["-5", "105"])
def test_churn_risk_outside_zero_to_a_hundred_percent_is_refused(staff_client, value):
    response = staff_client.get(LIST_URL, {"churn_risk_max": value})

    assert "churn_risk_max" in response.context["filter"].form.errors


def test_churn_risk_is_asked_in_percent(staff_client):
    response = staff_client.get(LIST_URL)

    form = response.context["filter"].form
    assert form.fields["churn_risk_min"].label == "Min. churn risk (%)"
    assert form.fields["churn_risk_max"].label == "Max. churn risk (%)"
    html = response.content.decode()
    for name in ("churn_risk_min", "churn_risk_max"):
        field = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group(0)
        assert 'step="5"' in field
        assert 'min="0"' in field
        assert 'max="100"' in field


def test_unknown_sort_and_page_size_fall_back_to_defaults(staff_client):
    CustomerFactory(first_name="Ada", last_name="Lovelace")

    response = staff_client.get(LIST_URL, {"sort": "password", "per_page": "1000"})

    assert response.status_code == 200
    assert not response.context["filter"].form.errors
    assert listed(response) == ["Ada Lovelace"]
    assert response.context["paginator"].per_page == 25


# Sorting


@pytest.fixture
def sortable_customers():
    now = timezone.now()
    CustomerFactory(
        first_name="Anna",
        last_name="Zed",
        total_spent=Decimal("50"),
        order_count=1,
        last_order_at=now - timedelta(days=5),
        churn_risk=0.9,
        rfm_segment="At Risk",
        predicted_clv=Decimal("40"),
    )
    CustomerFactory(
        first_name="Bob",
        last_name="Adams",
        total_spent=Decimal("900"),
        order_count=7,
        last_order_at=now - timedelta(days=50),
        churn_risk=0.1,
        rfm_segment="Champions",
        predicted_clv=Decimal("2000"),
    )
    CustomerFactory(first_name="Cleo", last_name="Adams")
    CustomerFactory(
        first_name="Dan",
        last_name="Moss",
        total_spent=Decimal("300"),
        order_count=3,
        last_order_at=now - timedelta(days=1),
        churn_risk=0.5,
        rfm_segment="Need Attention",
        predicted_clv=Decimal("300"),
    )
    score_table_rebuild()


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (None, ["Bob Adams", "Cleo Adams", "Dan Moss", "Anna Zed"]),
        ("name", ["Bob Adams", "Cleo Adams", "Dan Moss", "Anna Zed"]),
        ("-name", ["Anna Zed", "Dan Moss", "Cleo Adams", "Bob Adams"]),
        ("total_spent", ["Cleo Adams", "Anna Zed", "Dan Moss", "Bob Adams"]),
        ("-total_spent", ["Bob Adams", "Dan Moss", "Anna Zed", "Cleo Adams"]),
        ("order_count", ["Cleo Adams", "Anna Zed", "Dan Moss", "Bob Adams"]),
        ("-order_count", ["Bob Adams", "Dan Moss", "Anna Zed", "Cleo Adams"]),
        ("last_order_at", ["Bob Adams", "Anna Zed", "Dan Moss", "Cleo Adams"]),
        ("-last_order_at", ["Dan Moss", "Anna Zed", "Bob Adams", "Cleo Adams"]),
        # A score sort lists the scored customers only: Cleo has no score.
        ("churn_risk", ["Bob Adams", "Dan Moss", "Anna Zed"]),
        ("-churn_risk", ["Anna Zed", "Dan Moss", "Bob Adams"]),
        ("predicted_clv", ["Anna Zed", "Dan Moss", "Bob Adams"]),
        ("-predicted_clv", ["Bob Adams", "Dan Moss", "Anna Zed"]),
    ],
)
def test_sorting_both_directions_with_customers_without_orders_last(
    staff_client, sortable_customers, sort, expected
):
    response = staff_client.get(LIST_URL, {"sort": sort} if sort else {})

    assert listed(response) == expected


def test_sort_by_created_both_directions(staff_client):
    for name, days_ago in (("Middle", 5), ("Oldest", 9), ("Newest", 1)):
        customer = CustomerFactory(first_name=name, last_name="")
        created_at = timezone.now() - timedelta(days=days_ago)
        Customer.objects.filter(pk=customer.pk).update(created_at=created_at)

    oldest_first = staff_client.get(LIST_URL, {"sort": "created_at"})
    newest_first = staff_client.get(LIST_URL, {"sort": "-created_at"})

    assert listed(oldest_first) == ["Oldest", "Middle", "Newest"]
    assert listed(newest_first) == ["Newest", "Middle", "Oldest"]


def test_equal_values_keep_a_stable_order_across_pages(staff_client):
    for number in range(30):
        CustomerFactory(first_name=f"Same{number:02d}", last_name="", total_spent=Decimal("10"))

    first = staff_client.get(LIST_URL, {"sort": "total_spent"})
    second = staff_client.get(LIST_URL, {"sort": "total_spent", "page": 2})

    shown = listed(first) + listed(second)
    assert sorted(shown) == [f"Same{number:02d}" for number in range(30)]


def test_column_header_links_toggle_the_direction_and_keep_filters(staff_client):
    unsorted = staff_client.get(LIST_URL, {"q": "ada", "page": "1"})
    by_spent = staff_client.get(LIST_URL, {"q": "ada", "sort": "-total_spent"})

    links = unsorted.context["sort_links"]
    assert links["name"] == {"url": "?q=ada&sort=-name", "state": "ascending"}
    assert links["total_spent"] == {"url": "?q=ada&sort=-total_spent", "state": ""}
    spent = by_spent.context["sort_links"]["total_spent"]
    assert spent == {"url": "?q=ada&sort=total_spent", "state": "descending"}
    body = by_spent.content.decode()
    assert 'href="?q=ada&amp;sort=total_spent"' in body
    assert 'aria-sort="descending"' in body
    assert '<option value="-total_spent" selected>' in body


# Pages and count


def test_pages_of_25_by_default_and_links_keep_the_filters(staff_client):
    for number in range(30):
        CustomerFactory(first_name=f"C{number:02d}", last_name="", status="active")

    first = staff_client.get(LIST_URL, {"status": "active"})
    second = staff_client.get(LIST_URL, {"status": "active", "page": "2"})

    assert len(listed(first)) == 25
    assert listed(second) == [f"C{number:02d}" for number in range(25, 30)]
    assert 'href="?status=active&amp;page=2"' in first.content.decode()


@pytest.mark.parametrize(
    ("per_page", "shown"), [("50", 50), ("100", 60), ("25", 25), ("7", 25), ("abc", 25)]
)
def test_page_size_choice(staff_client, per_page, shown):
    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="") for number in range(60)
    )

    response = staff_client.get(LIST_URL, {"per_page": per_page})

    assert len(listed(response)) == shown


def test_page_past_the_end_shows_the_last_page(staff_client):
    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="") for number in range(30)
    )

    response = staff_client.get(LIST_URL, {"page": "99"})

    assert response.status_code == 200
    assert response.context["page_obj"].number == 2


def test_count_of_results_is_shown_with_thousands_separator(staff_client, settings):
    settings.CRM_LIST_COUNT_CAP = 5000
    Customer.objects.bulk_create(Customer(first_name="Bulk", last_name="") for _ in range(1234))

    response = staff_client.get(LIST_URL)

    body = response.content.decode()
    assert "1,234 customers<" in body
    assert "Page 1 of 50<" in body
    assert 'id="customer-count-hint"' not in body


def test_more_matches_than_the_cap_are_shown_as_the_cap_and_a_plus(staff_client):
    Customer.objects.bulk_create(
        Customer(first_name="Bulk", last_name="", status="active") for _ in range(1001)
    )

    response = staff_client.get(LIST_URL, {"status": "active"})

    body = response.content.decode()
    assert "1,000+ customers<" in body
    assert "Showing the first 1,000 matches; narrow the search or filters to see others." in body
    assert "Page 1 of 40+<" in body


def test_a_whole_shop_below_the_estimate_is_counted_exactly_past_the_cap(staff_client, settings):
    """The cap is for matches: a shop of 60 customers is told it has 60, not 40+."""
    settings.CRM_LIST_COUNT_CAP = 40
    Customer.objects.bulk_create(Customer(first_name="Bulk", last_name="") for _ in range(60))

    body = staff_client.get(LIST_URL).content.decode()

    assert "60 customers<" in body
    assert "Page 1 of 3<" in body
    assert "Showing the first" not in body


def test_a_capped_list_has_only_the_pages_within_the_cap(staff_client, settings):
    settings.CRM_LIST_COUNT_CAP = 40
    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="", status="active") for number in range(60)
    )

    second = staff_client.get(LIST_URL, {"status": "active", "page": "2"})
    past_the_cap = staff_client.get(LIST_URL, {"status": "active", "page": "3"})

    assert listed(second) == [f"C{number:02d}" for number in range(25, 40)]
    assert past_the_cap.status_code == 200
    assert listed(past_the_cap) == listed(second)
    body = second.content.decode()
    assert "40+ customers<" in body
    assert "Page 2 of 2+<" in body


def test_a_deep_page_reads_its_ids_first_then_its_rows(staff_client, assert_queries):
    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="", status="active") for number in range(60)
    )

    with assert_queries(7) as queries:
        response = staff_client.get(LIST_URL, {"status": "active", "page": "3"})

    assert listed(response) == [f"C{number:02d}" for number in range(50, 60)]
    ids, rows = (query["sql"] for query in queries.captured_queries[3:5])
    assert ids.split(" FROM ")[0] == 'SELECT "customers_customer"."id" AS "pk"'
    assert "LIMIT 10 OFFSET 50" in ids
    assert "OFFSET" not in rows
    assert '"customers_customer"."id" IN (' in rows


@pytest.mark.postgres
def test_a_whole_big_table_is_counted_from_the_statistics_as_about(staff_client, monkeypatch):
    from core.paginators import EstimatedCountPaginator

    Customer.objects.bulk_create(
        Customer(first_name=f"C{number:02d}", last_name="") for number in range(30)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 30)

    everything = staff_client.get(LIST_URL)
    filtered = staff_client.get(LIST_URL, {"status": "active"})

    assert "about 30 customers<" in everything.content.decode()
    assert "Page 1 of about 2<" in everything.content.decode()
    assert "30 customers<" in filtered.content.decode()
    assert "about" not in filtered.content.decode().split('id="customer-count"')[1][:40]


def test_count_follows_the_filters(staff_client):
    CustomerFactory(first_name="Ada", last_name="", status="suspended")
    CustomerFactory(first_name="Bob", last_name="")

    response = staff_client.get(LIST_URL, {"status": "suspended"})

    assert "1 customer<" in response.content.decode()


# Columns


def test_row_shows_contact_stats_segment_risk_and_coloured_tags(staff_client):
    customer = CustomerFactory(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+14155550134",
        customer_type="vip",
        order_count=1234,
        total_spent=Decimal("12345.60"),
        last_order_at=timezone.now() - timedelta(days=3),
        rfm_segment="Champions",
        churn_risk=0.42,
    )
    customer.tags.add(TagFactory(name="Gold", color="#ffd700"))

    response = staff_client.get(LIST_URL)

    body = response.content.decode()
    assert "ada@example.com" in body
    assert "+1 415-555-0134" in body
    assert "VIP" in body
    assert "1,234" in body
    assert "12,345.60" in body
    assert "Total spent (USD)" in body
    assert "3 days ago" in body
    assert "Champions" in body
    assert "42%" in body
    assert "background-color: #ffd700; color: #000" in body


# Query count


def make_customers_with_tags_and_orders(count: int) -> None:
    tags = [TagFactory(slug="vip", name="VIP"), TagFactory(slug="gold", name="Gold")]
    TagFactory(slug="unused", name="Unused")
    for _ in range(count):
        customer = CustomerFactory()
        customer.tags.add(*tags)
        OrderFactory(customer=customer, status=Order.Status.DELIVERED)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # session, user with permissions, count (on PostgreSQL the table's statistics first, as
        # nothing is filtered), the page's ids, its rows, their tags, tag choices
        ({}, 7),
        ({"q": "example 555", "sort": "-total_spent", "per_page": "25"}, 7),
        # and the chosen tags
        ({"tags": ["vip", "gold"], "has_orders": "true", "days_since_order_max": "30"}, 8),
    ],
)
def test_query_count_is_pinned_and_constant_in_the_number_of_customers(
    staff_client, assert_queries, vendor, query, expected
):
    make_customers_with_tags_and_orders(30)
    statistics = vendor == "postgresql" and not query

    with assert_queries(expected + statistics):
        response = staff_client.get(LIST_URL, query)
    assert len(listed(response)) == 25

    with CaptureQueriesContext(connection) as with_30:
        staff_client.get(LIST_URL, query)
    make_customers_with_tags_and_orders(30)
    with CaptureQueriesContext(connection) as with_60:
        response = staff_client.get(LIST_URL, query)

    assert len(listed(response)) == 25
    assert len(with_60) == len(with_30)


# In a browser, at phone width


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_filter_and_sort_on_a_phone(page, live_server, axe):
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType
    from playwright.sync_api import expect

    from customers.tests.factories import UserFactory

    CustomerFactory(first_name="Active", last_name="Small", total_spent=Decimal("10"))
    CustomerFactory(
        first_name="Suspended", last_name="Big", status="suspended", total_spent=Decimal("900")
    )
    CustomerFactory(
        first_name="Suspended", last_name="Little", status="suspended", total_spent=Decimal("5")
    )
    # Made here rather than read from the staff groups: an earlier browser test may have
    # flushed the rows the migrations wrote.
    view_customer, _ = Permission.objects.get_or_create(
        content_type=ContentType.objects.get_for_model(Customer),
        codename="view_customer",
        defaults={"name": "Can view customer"},
    )
    UserFactory(username="sam").user_permissions.add(view_customer)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/accounts/login/?next={LIST_URL}")
    axe()
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    axe()

    expect(page.get_by_label("Status")).to_be_hidden()
    page.get_by_role("button", name="Filters").click()
    page.get_by_label("Status").select_option("suspended")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_load_state()
    axe()

    assert page.url.endswith(f"{LIST_URL}?sort=name&status=suspended")
    expect(page.locator("#customer-count")).to_have_text("2 customers")
    page.get_by_role("link", name="Total spent").click()
    rows = page.locator("#customer-table tbody tr td:first-child > a")
    expect(rows).to_have_text(["Suspended Big", "Suspended Little"])
    axe()
    page.get_by_role("link", name="Total spent").click()
    expect(rows).to_have_text(["Suspended Little", "Suspended Big"])
    axe()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
