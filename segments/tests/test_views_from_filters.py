import pytest
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from segments.models import Segment
from segments.tests.factories import SegmentFactory

pytestmark = pytest.mark.django_db

NEW_URL = reverse("segments:create_from_filters")
LIST_URL = reverse("customers:list")


@pytest.fixture
def marketing_client(client_with_perms):
    return client_with_perms(
        "customers.view_customer", "segments.view_segment", "segments.add_segment"
    )


def test_the_page_shows_the_rules_in_words(marketing_client):
    response = marketing_client.get(NEW_URL, {"status": "active", "total_spent_min": "500"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Status is Active and total spent ≥ 500" in html
    assert 'name="name"' in html


def test_saving_makes_the_segment_and_opens_it(marketing_client):
    CustomerFactory(first_name="Active", last_name="One")

    response = marketing_client.post(
        f"{NEW_URL}?status=active&sort=-total_spent",
        {"name": "Active customers", "description": "Everyone active"},
        follow=True,
    )

    segment = Segment.objects.get(name="Active customers")
    assert segment.description == "Everyone active"
    assert segment.rules == {
        "match": "all",
        "conditions": [{"field": "status", "op": "eq", "value": "active"}],
    }
    assert response.redirect_chain[-1][0] == reverse("segments:detail", args=[segment.slug])
    assert "Active One" in response.content.decode()


def test_the_creation_dates_are_shown_in_words_and_saved(marketing_client):
    query = {"created_from": "2026-01-01", "created_to": "2026-01-31"}

    response = marketing_client.get(NEW_URL, query)
    posted = marketing_client.post(
        f"{NEW_URL}?created_from=2026-01-01&created_to=2026-01-31", {"name": "January"}
    )

    assert "Created on or after 1 Jan 2026 and created on or before 31 Jan 2026" in (
        response.content.decode()
    )
    assert posted.status_code == 302
    assert Segment.objects.get(name="January").rules["conditions"] == [
        {"field": "created_at", "op": "gte", "value": "2026-01-01"},
        {"field": "created_at", "op": "lte", "value": "2026-01-31"},
    ]


def test_the_search_is_refused_by_name_and_nothing_can_be_saved(marketing_client):
    response = marketing_client.get(NEW_URL, {"q": "smith", "status": "active"})
    posted = marketing_client.post(f"{NEW_URL}?q=smith&status=active", {"name": "Smiths"})

    assert "The search “smith” cannot be saved" in response.content.decode()
    assert 'name="name"' not in response.content.decode()
    assert posted.status_code == 200
    assert not Segment.objects.filter(name="Smiths").exists()


def test_a_name_whose_address_is_taken_is_refused_at_the_field(marketing_client):
    SegmentFactory(name="Big spenders", slug="big-spenders")

    response = marketing_client.post(f"{NEW_URL}?status=active", {"name": "Big Spenders!"})

    assert response.status_code == 200
    assert "already exists" in response.context["form"].errors["name"][0]


def test_saving_needs_add_segment(client_with_perms):
    client = client_with_perms("customers.view_customer", "segments.view_segment")

    assert client.get(NEW_URL, {"status": "active"}).status_code == 403
    assert client.post(f"{NEW_URL}?status=active", {"name": "No"}).status_code == 403
    assert not Segment.objects.filter(name="No").exists()


def test_the_customer_list_offers_the_button_when_filters_are_active(
    marketing_client, client_with_perms
):
    filtered = marketing_client.get(LIST_URL, {"status": "active"}).content.decode()
    unfiltered = marketing_client.get(LIST_URL).content.decode()
    without_permission = (
        client_with_perms("customers.view_customer")
        .get(LIST_URL, {"status": "active"})
        .content.decode()
    )

    assert f'href="{NEW_URL}?status=active"' in filtered
    assert "Save these filters as a segment" not in unfiltered
    assert "Save these filters as a segment" not in without_permission
