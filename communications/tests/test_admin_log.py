"""The admin of the log (read-only, filterable, a big table) and of tickets (messages inline,
status moved by actions through the transition function)."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from communications.models import Channel, Communication, Ticket, TrackingEvent
from communications.tests.factories import CampaignFactory, CommunicationFactory, TicketFactory
from communications.tickets import ticket_reply
from customers.tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

LOG_CHANGELIST = reverse("admin:communications_communication_changelist")
TICKET_CHANGELIST = reverse("admin:communications_ticket_changelist")


@pytest.fixture
def manager(client, client_in_group):
    return client_in_group("Managers")


def test_the_log_is_read_only(manager):
    contact = CommunicationFactory(subject="Spring news")
    TrackingEvent.objects.create(communication=contact, kind=TrackingEvent.Kind.OPEN)
    change_url = reverse("admin:communications_communication_change", args=[contact.pk])

    page = manager.get(change_url)
    posted = manager.post(change_url, {"subject": "Changed"})

    assert page.status_code == 200
    assert "Spring news" in page.content.decode() and "Opened" in page.content.decode()
    assert posted.status_code == 403
    assert manager.get(reverse("admin:communications_communication_add")).status_code == 403
    contact.refresh_from_db()
    assert contact.subject == "Spring news"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"channel__exact": "sms"}, {"sms"}),
        ({"status__exact": "failed"}, {"failed email"}),
        ({"direction__exact": "inbound"}, {"inbound chat"}),
        ({"purpose__exact": "support"}, {"inbound chat"}),
    ],
)
def test_the_log_filters(manager, query, expected):
    CommunicationFactory(subject="sms", channel=Channel.SMS)
    CommunicationFactory(subject="failed email", status=Communication.Status.FAILED)
    CommunicationFactory(
        subject="inbound chat", channel=Channel.CHAT, direction="inbound", purpose="support"
    )

    response = manager.get(LOG_CHANGELIST, query)

    assert {row.subject for row in response.context["cl"].result_list} == expected


def test_the_log_is_searched_by_customer_number_and_a_word_is_not_an_error(manager):
    ada = CustomerFactory()
    CommunicationFactory(customer=ada, subject="ada's")
    CommunicationFactory(subject="someone else's")

    found = manager.get(LOG_CHANGELIST, {"q": str(ada.pk)})
    word = manager.get(LOG_CHANGELIST, {"q": "boots"})

    assert [row.subject for row in found.context["cl"].result_list] == ["ada's"]
    assert word.status_code == 200


def test_the_log_changelist_query_count_is_pinned(manager, assert_queries, vendor):
    campaign = CampaignFactory()
    staff = UserFactory()
    for _ in range(30):
        CommunicationFactory(campaign=campaign, staff_user=staff)

    # session, user with permissions, the count (on PostgreSQL the planner's estimate first),
    # the page with its customers, staff and campaigns
    with assert_queries(4 + (vendor == "postgresql")):
        response = manager.get(LOG_CHANGELIST)
    assert len(response.context["cl"].result_list) == 30

    with assert_queries(4):
        manager.get(LOG_CHANGELIST, {"channel__exact": "email"})


def test_a_ticket_shows_its_messages_read_only(manager):
    ticket = TicketFactory(subject="Heel broke")
    ticket_reply(ticket=ticket, body="A new pair is on its way.")

    page = manager.get(reverse("admin:communications_ticket_change", args=[ticket.pk]))

    html = page.content.decode()
    assert page.status_code == 200
    assert "A new pair is on its way." in html
    assert 'name="messages-0-body"' not in html  # shown, not editable


def test_the_ticket_actions_move_the_status_through_the_transition_function(manager):
    open_ticket = TicketFactory()
    closed = TicketFactory(status=Ticket.Status.CLOSED)

    response = manager.post(
        TICKET_CHANGELIST,
        {"action": "mark_resolved", ACTION_CHECKBOX_NAME: [open_ticket.pk, closed.pk]},
        follow=True,
    )

    html = response.content.decode()
    assert "1 ticket(s) resolved." in html
    assert "A closed ticket cannot become resolved." in html
    open_ticket.refresh_from_db()
    closed.refresh_from_db()
    assert (open_ticket.status, closed.status) == ("resolved", "closed")


def test_the_ticket_changelist_query_count_is_pinned(manager, assert_queries):
    for _ in range(30):
        TicketFactory(assignee=UserFactory())

    # session, user with permissions, the capped count, the page with customers and assignees,
    # the assignees to filter by
    with assert_queries(5):
        response = manager.get(TICKET_CHANGELIST, {"status__exact": "open"})
    assert len(response.context["cl"].result_list) == 30
