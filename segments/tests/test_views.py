from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from customers.tests.factories import CustomerFactory, TagFactory
from segments.models import Segment
from segments.tests.factories import (
    SegmentFactory,
    SegmentMembershipFactory,
    all_of,
    condition,
)

pytestmark = pytest.mark.django_db

LIST_URL = reverse("segments:list")


def detail_url(segment) -> str:
    return reverse("segments:detail", args=[segment.slug])


def listed(response) -> list[str]:
    return [customer.full_name for customer in response.context["customers"]]


@pytest.fixture
def segment_client(client_with_perms):
    return client_with_perms("segments.view_segment", "customers.view_customer")


# The list


def test_list_shows_each_segment_with_its_rules_counts_and_badge(segment_client):
    counted = SegmentFactory(
        name="Big spenders", rules=all_of(condition("total_spent", "gte", 500))
    )
    SegmentMembershipFactory(segment=counted)
    Segment.objects.filter(pk=counted.pk).update(
        member_count=1234, evaluated_at=timezone.now() - timedelta(hours=2)
    )

    response = segment_client.get(LIST_URL)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Big spenders" in html
    assert "Total spent ≥ 500" in html
    assert "1,234" in html
    assert "counted " in html
    row = next(s for s in response.context["segments"] if s.pk == counted.pk)
    assert row.manual_count == 1
    # The pre-built segments are there, marked, and not counted yet.
    assert "System" in html
    assert "not counted yet" in html
    assert reverse("segments:detail", args=[counted.slug]) in html


def test_list_paginates(segment_client):
    for number in range(30):
        SegmentFactory(name=f"Zz segment {number:02d}")
    total = Segment.objects.count()

    first = segment_client.get(LIST_URL)
    last = segment_client.get(LIST_URL, {"page": "2"})

    assert len(first.context["segments"]) == 25
    assert len(last.context["segments"]) == total - 25


def test_list_query_count_is_pinned(segment_client, assert_queries):
    for _ in range(5):
        SegmentMembershipFactory()

    # session, user with permissions, count, segments with their manual counts
    with assert_queries(4):
        response = segment_client.get(LIST_URL)
    assert response.status_code == 200

    for _ in range(10):
        SegmentMembershipFactory()
    with assert_queries(4):
        segment_client.get(LIST_URL)


def test_list_needs_view_segment(client_with_perms, client):
    assert client.get(LIST_URL).status_code == 302  # anonymous: to the login page
    denied = client_with_perms("customers.view_customer")
    assert denied.get(LIST_URL).status_code == 403


def test_nav_shows_segments_to_those_who_may_view_them(client_with_perms):
    home = reverse("home")
    assert LIST_URL in client_with_perms("segments.view_segment").get(home).content.decode()
    assert LIST_URL not in client_with_perms("customers.view_customer").get(home).content.decode()


# The detail page


def test_detail_lists_the_members_sorted_and_paginated_like_the_customer_list(segment_client):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 100)))
    for number in range(30):
        CustomerFactory(
            first_name=f"M{number:02d}", last_name="Member", total_spent=Decimal(100 + number)
        )
    CustomerFactory(first_name="Outsider", last_name="", total_spent=Decimal(5))
    by_hand = CustomerFactory(first_name="Hand", last_name="Added", total_spent=Decimal(0))
    SegmentMembershipFactory(segment=segment, customer=by_hand)

    first = segment_client.get(detail_url(segment))
    by_spend = segment_client.get(detail_url(segment), {"sort": "-total_spent"})
    second = segment_client.get(detail_url(segment), {"sort": "-total_spent", "page": "2"})

    assert first.status_code == 200
    assert listed(first)[0] == "Hand Added"  # by name, as the customer list
    assert "31 customers" in first.content.decode()
    assert listed(by_spend)[:2] == ["M29 Member", "M28 Member"]
    assert len(listed(by_spend)) == 25
    assert listed(second)[-1] == "Hand Added"
    assert "Outsider" not in first.content.decode() + second.content.decode()
    links = by_spend.context["sort_links"]
    assert links["total_spent"]["state"] == "descending"
    assert "sort=total_spent" in links["total_spent"]["url"]
    assert 'aria-sort="descending"' in by_spend.content.decode()


def test_detail_says_when_the_cached_count_was_made_and_counts_live(segment_client):
    segment = SegmentFactory(rules=all_of(condition("order_count", "gte", 1)))
    CustomerFactory(order_count=2)
    evaluated = timezone.now() - timedelta(days=1)
    Segment.objects.filter(pk=segment.pk).update(member_count=40, evaluated_at=evaluated)

    response = segment_client.get(detail_url(segment))

    html = response.content.decode()
    assert "40, counted " in html
    assert "1 customer now" in html
    assert "Order count ≥ 1" in html


def test_detail_caps_the_live_count(segment_client, settings):
    settings.CRM_LIST_COUNT_CAP = 3
    segment = SegmentFactory(rules=all_of(condition("status", "eq", "active")))
    Customer.objects.bulk_create(Customer(first_name=f"C{n}", last_name="") for n in range(5))

    response = segment_client.get(detail_url(segment))

    assert "3+ customers" in response.content.decode()


def test_detail_of_an_empty_segment(segment_client):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 10**9)))

    response = segment_client.get(detail_url(segment))

    assert "No customers are in this segment now." in response.content.decode()


def test_detail_query_count_is_pinned(segment_client, assert_queries):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 100)))
    tag = TagFactory()
    for _ in range(30):
        customer = CustomerFactory(total_spent=Decimal(200))
        customer.tags.add(tag)

    # session, user with permissions, the segment with its manual count, the capped count,
    # the page's ids, its rows, their tags
    with assert_queries(7):
        response = segment_client.get(detail_url(segment), {"sort": "-total_spent"})
    assert len(listed(response)) == 25


def test_detail_needs_view_segment_and_shows_members_only_with_view_customer(
    client_with_perms,
):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 0)))
    CustomerFactory(first_name="Secret", last_name="Person")

    assert client_with_perms("customers.view_customer").get(detail_url(segment)).status_code == 403
    response = client_with_perms("segments.view_segment").get(detail_url(segment))

    assert response.status_code == 200
    assert "Secret" not in response.content.decode()
    assert "export.csv" not in response.content.decode()


def test_detail_of_an_unknown_segment_is_404(segment_client):
    assert segment_client.get("/segments/no-such-segment/").status_code == 404
