from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.urls import reverse
from django.utils import timezone

from customers.analytics.scores import score_table_rebuild
from customers.filters import CustomerFilter
from customers.models import Customer
from customers.tests.factories import CustomerFactory, TagFactory
from segments.from_filters import UNSAVABLE, rules_from_list_query
from segments.models import Segment

pytestmark = pytest.mark.django_db

LIST_URL = reverse("customers:list")

# Every filter of the customer list with values that split the customers below, the edges
# (a bound equal to a value, a day boundary) included.
FILTER_QUERIES = {
    "status": ["status=suspended", "status=active"],
    "customer_type": ["customer_type=vip&customer_type=wholesale"],
    "source": ["source=referral"],
    "tags": ["tags=gold", "tags=gold&tags=silver"],
    "has_orders": ["has_orders=true", "has_orders=false"],
    "total_spent_min": ["total_spent_min=100", "total_spent_min=100.01"],
    "total_spent_max": ["total_spent_max=600", "total_spent_max=0"],
    "order_count_min": ["order_count_min=2"],
    "order_count_max": ["order_count_max=2", "order_count_max=0"],
    "days_since_order_min": ["days_since_order_min=30", "days_since_order_min=0"],
    "days_since_order_max": ["days_since_order_max=30", "days_since_order_max=0"],
    "rfm_segment": ["rfm_segment=Champions", "rfm_segment=Prospect&rfm_segment=At+Risk"],
    "churn_risk_min": ["churn_risk_min=75", "churn_risk_min=20"],
    "churn_risk_max": ["churn_risk_max=75", "churn_risk_max=20"],
    "accepts_email": ["accepts_email=false", "accepts_email=true"],
    "accepts_sms": ["accepts_sms=true"],
    # Whole days on the shop's clock (New York below): a customer created at 22:00 on the 15th
    # is the 16th in UTC, and "to" the 15th includes its last instant.
    "created_from": ["created_from=2026-01-15", "created_from=2026-01-16"],
    "created_to": ["created_to=2026-01-15", "created_to=2026-01-14"],
}
COMBINED = "status=active&has_orders=true&churn_risk_max=80&accepts_sms=true&sort=-total_spent"
ONE_DAY = "created_from=2026-01-15&created_to=2026-01-15"
SHOP_TIME_ZONE = "America/New_York"
NOT_SAVABLE = {"q", "sort", *UNSAVABLE}


def ordered(days_ago: int, hour: int = 12) -> dict:
    moment = timezone.localtime() - timedelta(days=days_ago)
    placed = moment.replace(hour=hour, minute=0, second=0, microsecond=0)
    return {"last_order_at": placed, "first_order_at": placed}


def created_at(day: int, hour: int = 0) -> datetime:
    """An hour of January 2026 on the shop's clock."""
    return datetime(2026, 1, day, hour, tzinfo=ZoneInfo(SHOP_TIME_ZONE))


# When each customer below was created: the edges of 15 January, and 22:00 on the 15th, which is
# the 16th in UTC.
CREATED = {
    "Plain": created_at(15) - timedelta(microseconds=1),
    "Prospect": created_at(15),
    "Referred": created_at(16) - timedelta(microseconds=1),
    "Suspended": created_at(16),
    "Vip": created_at(5, hour=12),
    "Wholesale": created_at(25, hour=12),
    "Regular": created_at(15, hour=22),
}


@pytest.fixture
def customers(db, settings):
    settings.TIME_ZONE = SHOP_TIME_ZONE
    gold, silver = TagFactory(slug="gold", name="Gold"), TagFactory(slug="silver", name="Silver")
    CustomerFactory(first_name="Plain", last_name="A")
    CustomerFactory(
        first_name="Prospect", last_name="B", rfm_segment="Prospect", accepts_email=False
    )
    CustomerFactory(first_name="Referred", last_name="C", source="referral", accepts_email=False)
    suspended = CustomerFactory(
        first_name="Suspended", last_name="D", status="suspended", order_count=1,
        total_spent=Decimal("100.00"), rfm_segment="At Risk", churn_risk=0.75,
        predicted_clv=Decimal("80.00"), **ordered(30, hour=0),
    )  # fmt: skip
    suspended.tags.add(gold)
    vip = CustomerFactory(
        first_name="Vip", last_name="E", customer_type="vip", order_count=2,
        total_spent=Decimal("600.00"), rfm_segment="Champions", churn_risk=0.2,
        predicted_clv=Decimal("700.00"), accepts_sms=True, **ordered(0),
    )  # fmt: skip
    vip.tags.add(gold, silver)
    wholesale = CustomerFactory(
        first_name="Wholesale", last_name="F", customer_type="wholesale", order_count=9,
        total_spent=Decimal("9000.00"), rfm_segment="Loyal Customers", churn_risk=0.9,
        predicted_clv=Decimal("5000.00"), accepts_sms=True, **ordered(31, hour=23),
    )  # fmt: skip
    wholesale.tags.add(silver)
    CustomerFactory(
        first_name="Regular", last_name="G", customer_type="regular", order_count=3,
        total_spent=Decimal("250.50"), rfm_segment="Champions", churn_risk=0.5,
        predicted_clv=Decimal("300.00"), accepts_sms=True, **ordered(29, hour=23),
    )  # fmt: skip
    for first_name, moment in CREATED.items():
        Customer.objects.filter(first_name=first_name).update(created_at=moment)
    score_table_rebuild()  # as the nightly run does after writing scores


def listed_ids(client, query: str) -> set[int]:
    response = client.get(f"{LIST_URL}?{query}&per_page=100")
    assert response.status_code == 200
    assert not response.context["filter_errors"]
    return {customer.pk for customer in response.context["customers"]}


def test_every_filter_of_the_list_is_saved_or_refused_by_name():
    assert set(FILTER_QUERIES) | NOT_SAVABLE == set(CustomerFilter.base_filters)


@pytest.mark.parametrize(
    "query",
    [query for queries in FILTER_QUERIES.values() for query in queries] + [COMBINED, ONE_DAY],
)
def test_the_new_segments_members_are_exactly_the_filtered_list(
    client_with_perms, customers, query
):
    client = client_with_perms("customers.view_customer", "segments.add_segment")
    expected = listed_ids(client, query)

    response = client.post(f"{reverse('segments:create_from_filters')}?{query}", {"name": "Saved"})

    assert response.status_code == 302
    segment = Segment.objects.get(name="Saved")
    assert set(segment.customers().values_list("pk", flat=True)) == expected
    assert 0 < len(expected) < 7  # the filter chose some customers, not all


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("q=smith", "The search “smith”"),
        ("created_from=2026-02-30", "Created from: Enter a valid date."),
        ("created_to=3000-01-01", "Created to: Enter a date from 1900-01-01 to 2999-12-31."),
        ("order_count_min=many", "Min. orders: Enter a whole number."),
        ("churn_risk_max=150", "Max. churn risk (%)"),
        ("tags=no-such-tag", "Tags (any of)"),
    ],
)
def test_filters_rules_cannot_express_are_refused_naming_them(db, query, named):
    with pytest.raises(ValidationError) as refused:
        rules_from_list_query(QueryDict(f"status=active&{query}"))

    assert any(named in message for message in refused.value.messages)


def test_no_filter_at_all_is_refused(db):
    with pytest.raises(ValidationError, match="at least one filter"):
        rules_from_list_query(QueryDict("sort=-total_spent&per_page=50&page=2&q=+"))


def test_the_rules_read_as_the_filters(db):
    rules = rules_from_list_query(
        QueryDict("status=active&churn_risk_min=55&total_spent_min=10.50&has_orders=false")
    )

    assert rules == {
        "match": "all",
        "conditions": [
            {"field": "status", "op": "eq", "value": "active"},
            {"field": "order_count", "op": "eq", "value": 0},
            {"field": "total_spent", "op": "gte", "value": "10.50"},
            {"field": "churn_risk", "op": "gte", "value": "0.55"},
        ],
    }


def test_the_creation_dates_are_saved_as_whole_days(db):
    rules = rules_from_list_query(QueryDict("created_from=2026-01-15&created_to=2026-01-31"))

    assert rules == {
        "match": "all",
        "conditions": [
            {"field": "created_at", "op": "gte", "value": "2026-01-15"},
            {"field": "created_at", "op": "lte", "value": "2026-01-31"},
        ],
    }


def test_the_creation_dates_edges_are_the_lists(client_with_perms, customers):
    client = client_with_perms("customers.view_customer", "segments.add_segment")
    names = dict(Customer.objects.values_list("pk", "first_name"))

    listed = {names[pk] for pk in listed_ids(client, ONE_DAY)}

    assert listed == {"Prospect", "Referred", "Regular"}  # the first and last instants of the day
