"""The customer page's Communications panel (latest contacts, open tickets, "Log a contact")
and the communications on the customer's timeline."""

from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from communications.models import Channel, Communication, Direction, Purpose, Ticket, TrackingEvent
from communications.panels import (
    CACHE_ATTRIBUTE,
    PANEL_CONTACTS,
    communication_entries,
    communications_panel_context,
)
from communications.tests.factories import CommunicationFactory, TicketFactory
from core.testing import announced, elements, focused
from customers.tests.factories import CustomerFactory, NoteFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def detail_url(customer):
    return reverse("customers:detail", args=[customer.pk])


def log_url(customer):
    return reverse("communications:log_contact", args=[customer.pk])


def logged_call(customer, minutes_ago=0, **fields):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    defaults = {
        "customer": customer,
        "channel": Channel.PHONE,
        "direction": Direction.OUTBOUND,
        "purpose": Purpose.FOLLOW_UP,
        "status": Communication.Status.DELIVERED,
        "occurred_at": at,
        "delivered_at": at,
    }
    return CommunicationFactory(**{**defaults, **fields})


def posted(**overrides):
    data = {
        "channel": "phone",
        "direction": "outbound",
        "purpose": "follow_up",
        "status": "delivered",
        "subject": "Boots arrived",
        "body": "Told her the red boots are in.",
        "occurred_at": "",
    }
    return {**data, **overrides}


def test_the_panel_lists_the_latest_contacts_and_the_open_tickets(client_in_group):
    customer = CustomerFactory()
    for minutes in range(8):
        logged_call(customer, minutes_ago=minutes, subject=f"Call {minutes}")
    TicketFactory(customer=customer, subject="Heel broke", priority=Ticket.Priority.HIGH)
    TicketFactory(customer=customer, subject="Old question", status=Ticket.Status.CLOSED)
    client = client_in_group("Support")

    response = client.get(detail_url(customer))

    html = response.content.decode()
    context = next(ctx for p, ctx in response.context["panels"] if p.key == "communications")
    assert [event.subject for event in context["recent"]] == [f"Call {n}" for n in range(5)]
    assert context["more_contacts"]
    assert [ticket.subject for ticket in context["open_tickets"]] == ["Heel broke"]
    assert "Log a contact" in html and "New ticket" in html


def test_urgent_tickets_come_first(rf_user):
    customer = CustomerFactory()
    TicketFactory(customer=customer, subject="normal, newest")
    TicketFactory(customer=customer, subject="urgent, older", priority=Ticket.Priority.URGENT)
    TicketFactory(customer=customer, subject="pending", status=Ticket.Status.PENDING)

    context = communications_panel_context(rf_user("Support"), customer)

    subjects = [ticket.subject for ticket in context["open_tickets"]]
    assert subjects[0] == "urgent, older"
    assert set(subjects) == {"normal, newest", "urgent, older", "pending"}


@pytest.fixture
def rf_user(db):
    from django.contrib.auth.models import Group

    def make(group):
        user = UserFactory()
        user.groups.add(Group.objects.get(name=group))
        request = RequestFactory().get("/")
        request.user = user
        return request

    return make


def test_the_panel_and_the_timeline_share_one_read(rf_user, django_assert_num_queries):
    customer = CustomerFactory()
    for minutes in range(40):
        logged_call(customer, minutes_ago=minutes)
    request = rf_user("Loyalty managers")  # may view the log, not tickets
    request.user.has_perm("communications.view_communication")  # permissions read beforehand

    with django_assert_num_queries(1):
        context = communications_panel_context(request, customer)
        entries = list(communication_entries(customer, 30))

    assert len(context["recent"]) == PANEL_CONTACTS
    assert len(entries) == 30
    assert "log_form" not in context and "open_tickets" not in context


def test_the_timeline_reads_its_own_when_the_panel_has_not(django_assert_num_queries):
    customer = CustomerFactory()
    for minutes in range(5):
        logged_call(customer, minutes_ago=minutes)

    with django_assert_num_queries(1):
        entries = list(communication_entries(customer, 3))

    assert len(entries) == 3
    assert not hasattr(customer, CACHE_ATTRIBUTE)


def test_the_timeline_holds_contacts_and_unsubscribes_newest_first(client_in_group):
    customer = CustomerFactory()
    staff = UserFactory(username="sam")
    logged_call(customer, minutes_ago=30, subject="Sizes", staff_user=staff)
    email = CommunicationFactory(
        customer=customer,
        channel=Channel.EMAIL,
        status=Communication.Status.DELIVERED,
        occurred_at=timezone.now() - timedelta(minutes=20),
    )
    unsubscribe = TrackingEvent.objects.create(
        communication=email, kind=TrackingEvent.Kind.UNSUBSCRIBE
    )
    TrackingEvent.objects.create(communication=email, kind=TrackingEvent.Kind.OPEN)
    client = client_in_group("Support")

    timeline = client.get(detail_url(customer)).context["timeline"]

    ours = [entry for entry in timeline if entry.kind in ("contact", "unsubscribe")]
    assert [entry.kind for entry in ours] == ["unsubscribe", "contact", "contact"]
    assert ours[0].title == "Unsubscribed from email"
    assert ours[0].at == unsubscribe.created_at
    assert ours[2].title == "Call to the customer (follow-up, delivered) by sam: Sizes"


def test_a_tickets_message_links_to_the_ticket_on_the_timeline():
    customer = CustomerFactory()
    ticket = TicketFactory(customer=customer)
    logged_call(customer, ticket=ticket, purpose=Purpose.SUPPORT)

    (entry,) = communication_entries(customer, 30)

    assert entry.url == reverse("communications:ticket", args=[ticket.pk])


def test_without_view_communication_neither_panel_nor_timeline_shows(client_with_perms):
    customer = CustomerFactory()
    logged_call(customer, subject="Private call")
    client = client_with_perms("customers.view_customer")

    response = client.get(detail_url(customer))

    assert "communications" not in {panel.key for panel, _ in response.context["panels"]}
    assert "Private call" not in response.content.decode()


def test_log_a_contact_over_htmx_redraws_the_panel_announces_it_and_focuses_it(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(log_url(customer), posted(), **HTMX)

    logged = Communication.objects.get(customer=customer)
    assert logged.channel == Channel.PHONE and logged.status == Communication.Status.DELIVERED
    assert logged.staff_user.username == response.wsgi_request.user.username
    assert logged.subject == "Boots arrived"
    assert announced(response) == "Call logged"
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="communications-panel">')
    assert "Boots arrived" in html
    assert [found["id"] for found in focused(response)] == [f"contact-{logged.pk}-contact"]


def test_a_refused_contact_names_the_field_and_focuses_it(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(log_url(customer), posted(direction="inbound", status="failed"), **HTMX)

    assert not Communication.objects.exists()
    assert announced(response) == "The contact was not logged"
    html = response.content.decode()
    assert "A logged inbound contact is delivered, replied." in html
    assert [found["name"] for found in focused(response)] == ["status"]


def test_a_contact_in_the_future_is_refused_at_the_when_field(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")
    later = timezone.localtime() + timedelta(days=2)

    response = client.post(
        log_url(customer), posted(occurred_at=later.strftime("%Y-%m-%dT%H:%M")), **HTMX
    )

    assert not Communication.objects.exists()
    assert "the time is in the future" in response.content.decode()
    assert [found["name"] for found in focused(response)] == ["occurred_at"]


def test_without_javascript_the_form_posts_and_comes_back(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")
    earlier = timezone.localtime() - timedelta(hours=3)

    response = client.post(
        log_url(customer),
        posted(channel="in_person", occurred_at=earlier.strftime("%Y-%m-%dT%H:%M")),
        follow=True,
    )

    assert response.redirect_chain[-1][0] == detail_url(customer)
    assert "In person logged." in response.content.decode()
    logged = Communication.objects.get()
    assert logged.occurred_at.replace(second=0, microsecond=0) == earlier.replace(
        second=0, microsecond=0
    )


def test_without_javascript_a_refusal_is_said_on_the_page(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.post(log_url(customer), posted(channel="fax"), follow=True)

    assert "The contact was not logged. Channel: Select a valid choice." in (
        response.content.decode()
    )


@pytest.mark.parametrize("group", ["Marketing", "Loyalty managers"])
def test_only_those_who_may_log_contacts_see_the_form_or_post_it(client_in_group, group):
    customer = CustomerFactory()
    client = client_in_group(group)

    page = client.get(detail_url(customer)).content.decode()
    response = client.post(log_url(customer), posted(), **HTMX)

    assert "Log a contact" not in page
    assert response.status_code == 403
    assert not Communication.objects.exists()


def test_a_customer_the_user_may_not_see_cannot_be_logged_against(client_in_group, monkeypatch):
    from core import visibility

    customer = CustomerFactory()
    client = client_in_group("Support")
    monkeypatch.setattr(visibility, "customer_filter", lambda user, via="": visibility.NOTHING)

    response = client.post(log_url(customer), posted(), **HTMX)

    assert response.status_code == 404
    assert not Communication.objects.exists()


@pytest.mark.parametrize(("group", "expected"), [("Support", 19), ("Managers", 20)])
def test_the_customer_page_stays_within_its_budget_whatever_the_history(
    client_in_group, assert_queries, group, expected
):
    """DESIGN.md section 6: at most 20 queries, whatever the customer's history. The panel's
    latest contacts and the timeline share one read; the open tickets are one more."""
    customer = CustomerFactory()
    now = timezone.now()
    Communication.objects.bulk_create(
        Communication(
            customer=customer,
            channel=Channel.EMAIL,
            direction=Direction.OUTBOUND,
            purpose=Purpose.MARKETING,
            status=Communication.Status.DELIVERED,
            occurred_at=now - timedelta(minutes=n),
        )
        for n in range(500)
    )
    first = Communication.objects.filter(customer=customer).first()
    TrackingEvent.objects.create(communication=first, kind=TrackingEvent.Kind.UNSUBSCRIBE)
    for n in range(20):
        TicketFactory(customer=customer, subject=f"Question {n}")
    # Orders and notes too, so every card of the page reads what it reads for a real customer.
    OrderFactory.create_batch(12, customer=customer, status="delivered")
    NoteFactory.create_batch(12, customer=customer)
    client = client_in_group(group)

    with assert_queries(expected):
        response = client.get(detail_url(customer))

    context = next(ctx for p, ctx in response.context["panels"] if p.key == "communications")
    assert len(context["recent"]) == PANEL_CONTACTS and len(context["open_tickets"]) == 5
    kinds = [entry.kind for entry in response.context["timeline"]]
    assert len(kinds) == 30 and {"contact", "unsubscribe"} <= set(kinds)


@pytest.mark.parametrize("group", ["Marketing", "Loyalty managers"])
def test_those_who_do_not_handle_tickets_see_contacts_but_no_tickets(client_in_group, group):
    customer = CustomerFactory()
    logged_call(customer, subject="Asked about sizes")
    TicketFactory(customer=customer, subject="Refund not received")
    client = client_in_group(group)

    html = client.get(detail_url(customer)).content.decode()

    assert "Asked about sizes" in html
    assert "Refund not received" not in html and "New ticket" not in html


def test_the_log_forms_fields_have_ids_of_their_own_on_the_customer_page(client_in_group):
    customer = CustomerFactory()
    client = client_in_group("Support")

    response = client.get(detail_url(customer))

    ids = [found["id"] for _, found in elements(response) if "id" in found]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert "contact_body" in ids and "id_body" in ids  # the contact's and the note's
