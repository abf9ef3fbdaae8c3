"""The log page: every contact, filtered, newest first, in pages."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from communications.models import Channel, Communication, Direction, Purpose
from communications.tests.factories import CampaignFactory, CommunicationFactory, TicketFactory
from customers.tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

LOG_URL = reverse("communications:log")
Status = Communication.Status


def contact(at=None, **fields):
    at = at or timezone.now()
    return CommunicationFactory(occurred_at=at, **fields)


def listed(response) -> list[str]:
    return [communication.subject for communication in response.context["communications"]]


@pytest.fixture
def viewer(client_in_group):
    return client_in_group("Support")


def test_every_contact_newest_first(viewer):
    now = timezone.now()
    contact(now - timedelta(days=2), subject="older")
    contact(now, subject="newest")
    contact(now - timedelta(days=1), subject="middle")

    response = viewer.get(LOG_URL)

    assert response.status_code == 200
    assert listed(response) == ["newest", "middle", "older"]
    assert "3 contacts" in response.content.decode()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel": "phone"}, ["call"]),
        ({"direction": "inbound"}, ["inbound chat"]),
        ({"purpose": "support"}, ["inbound chat"]),
        ({"status": "failed"}, ["failed email"]),
    ],
)
def test_filters(viewer, query, expected):
    contact(subject="call", channel=Channel.PHONE, status=Status.DELIVERED)
    contact(
        subject="inbound chat",
        channel=Channel.CHAT,
        direction=Direction.INBOUND,
        purpose=Purpose.SUPPORT,
        status=Status.DELIVERED,
    )
    contact(subject="failed email", channel=Channel.EMAIL, status=Status.FAILED)

    assert listed(viewer.get(LOG_URL, query)) == expected


def test_dates_are_whole_days_on_the_shops_clock(viewer):
    zone = timezone.get_current_timezone()
    contact(datetime(2026, 3, 1, 0, 5, tzinfo=zone), subject="first of March, early")
    contact(datetime(2026, 3, 2, 23, 55, tzinfo=zone), subject="second of March, late")
    contact(datetime(2026, 3, 3, 0, 0, tzinfo=zone), subject="third of March")
    contact(datetime(2026, 2, 28, 23, 59, tzinfo=zone), subject="end of February")

    response = viewer.get(LOG_URL, {"date_from": "2026-03-01", "date_to": "2026-03-02"})

    assert listed(response) == ["second of March, late", "first of March, early"]


def test_staff_member_and_customer_filters(viewer):
    sam = UserFactory(username="sam")
    ada = CustomerFactory()
    contact(subject="sam's call", staff_user=sam)
    contact(subject="ada's email", customer=ada)

    assert listed(viewer.get(LOG_URL, {"staff_user": sam.pk})) == ["sam's call"]
    assert listed(viewer.get(LOG_URL, {"customer": ada.pk})) == ["ada's email"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"channel": "fax"}, "Channel: Select a valid choice."),
        ({"date_from": "2026-13-40"}, "From: Enter a valid date."),
        ({"date_from": "0001-01-01"}, "From: Enter a date from 1900-01-01 to 2999-12-31."),
        ({"customer": "-3"}, "Customer number: Ensure this value is greater than or equal to 1."),
        ({"customer": "9" * 30}, "Customer number: Ensure this value is less than or equal to"),
        (
            {"date_from": "2026-03-05", "date_to": "2026-03-01"},
            "To: Must not be before “From” (2026-03-05).",
        ),
        ({"staff_user": "nobody"}, "Staff member: Select a valid choice."),
    ],
)
def test_bad_filters_are_named_not_a_server_error(viewer, query, message):
    contact(subject="anything")

    response = viewer.get(LOG_URL, query)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert listed(response) == []


def test_a_page_past_the_end_shows_the_last_page(viewer):
    for n in range(30):
        contact(subject=f"c{n}")

    response = viewer.get(LOG_URL, {"page": "9"})

    assert response.context["page_obj"].number == 2
    assert len(listed(response)) == 5


def test_capped_count_says_plus(viewer, settings):
    settings.CRM_LIST_COUNT_CAP = 10
    for n in range(12):
        contact(subject=f"c{n}", channel=Channel.PHONE)

    response = viewer.get(LOG_URL, {"channel": "phone"})

    assert "10+ contacts" in response.content.decode()


def test_query_count_is_pinned_and_constant(viewer, assert_queries, vendor):
    staff = UserFactory()
    campaign = CampaignFactory()
    for n in range(30):
        customer = CustomerFactory()
        contact(subject=f"c{n}", customer=customer, staff_user=staff)
        contact(subject=f"m{n}", customer=customer, campaign=campaign)
        contact(subject=f"t{n}", customer=customer, ticket=TicketFactory(customer=customer))

    # session, user with permissions, the count (on PostgreSQL the table's statistics first, as
    # nothing is filtered), the page with its customers, staff, campaigns and tickets, the staff
    # members to filter by
    with assert_queries(5 + (vendor == "postgresql")):
        response = viewer.get(LOG_URL)
    assert len(listed(response)) == 25

    with assert_queries(5):
        response = viewer.get(LOG_URL, {"channel": "email", "date_from": "2020-01-01"})
    assert len(listed(response)) == 25


def test_the_log_needs_view_communication(client_with_perms, client):
    assert client_with_perms("customers.view_customer").get(LOG_URL).status_code == 403
    client.logout()
    assert client.get(LOG_URL).status_code == 302


def test_the_log_reads_through_visibility(viewer, monkeypatch):
    from core import visibility

    contact(subject="hidden")
    monkeypatch.setattr(visibility, "customer_filter", lambda user, via="": visibility.NOTHING)

    assert listed(viewer.get(LOG_URL)) == []


@pytest.mark.parametrize("group", ["Support", "Marketing", "Loyalty managers", "Managers"])
def test_every_group_that_views_the_log_has_contacts_in_the_menu(client_in_group, group):
    response = client_in_group(group).get(reverse("home"))

    assert f'href="{LOG_URL}"' in response.content.decode()
