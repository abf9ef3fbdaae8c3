"""Support tickets: the services (open, reply, the status transition function, assign) and the
pages (list, ticket, new ticket)."""

import threading

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import connections
from django.urls import reverse

from communications.models import Channel, Communication, Direction, Purpose, Ticket
from communications.tests.factories import TicketFactory
from communications.tickets import (
    TRANSITIONS,
    assignable_users,
    ticket_assign,
    ticket_open,
    ticket_reply,
    ticket_set_status,
)
from customers.tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = Ticket.Status
TICKETS_URL = reverse("communications:tickets")


def in_group(name: str, **fields):
    user = UserFactory(**fields)
    user.groups.add(Group.objects.get(name=name))
    return user


def ticket_url(ticket, name="ticket"):
    return reverse(f"communications:{name}", args=[ticket.pk])


# Services -------------------------------------------------------------------------------------


def test_opening_a_ticket_keeps_what_the_customer_asked_as_its_first_message():
    customer = CustomerFactory()
    sam = in_group("Support", username="sam")

    ticket = ticket_open(
        customer=customer,
        subject="  Heel broke  ",
        body="The heel of my boot broke after a week.",
        channel=Channel.PHONE,
        priority=Ticket.Priority.HIGH,
        assignee=sam,
        opened_by=sam,
    )

    assert (ticket.subject, ticket.status, ticket.priority) == ("Heel broke", Status.OPEN, "high")
    assert ticket.assignee == sam and ticket.created_by == sam
    (message,) = ticket.messages.all()
    assert message.customer == customer and message.purpose == Purpose.SUPPORT
    assert message.direction == Direction.INBOUND and message.channel == Channel.PHONE
    assert message.status == Communication.Status.DELIVERED and message.delivered_at


def test_a_ticket_needs_a_subject_and_a_priority_it_knows():
    with pytest.raises(ValidationError) as error:
        ticket_open(customer=CustomerFactory(), subject="  ", priority="whenever")

    assert set(error.value.message_dict) == {"subject", "priority"}
    assert not Ticket.objects.exists()


def test_only_someone_who_handles_tickets_may_be_assigned():
    marketer = in_group("Marketing")

    with pytest.raises(ValidationError) as error:
        ticket_open(customer=CustomerFactory(), subject="Where is my order?", assignee=marketer)

    assert "may not handle tickets" in error.value.message_dict["assignee"][0]
    assert not Ticket.objects.exists()


def test_who_may_handle_tickets():
    support = in_group("Support")
    manager = in_group("Managers")
    in_group("Marketing")
    in_group("Support", is_active=False)
    boss = UserFactory(is_superuser=True)

    assert set(assignable_users()) == {support, manager, boss}


def test_an_answer_leaves_the_ticket_pending_and_the_customers_message_reopens_it():
    ticket = TicketFactory()
    sam = in_group("Support")

    answer = ticket_reply(ticket=ticket, body="We will send a new pair.", staff_user=sam)
    assert ticket.status == Status.PENDING
    assert answer.direction == Direction.OUTBOUND and answer.status == Communication.Status.SENT
    assert answer.ticket == ticket and answer.purpose == Purpose.SUPPORT
    assert answer.subject == f"Re: {ticket.subject}"

    ticket_reply(ticket=ticket, body="Thanks, size 38 please.", direction=Direction.INBOUND)
    assert ticket.status == Status.OPEN

    ticket_set_status(ticket=ticket, status=Status.RESOLVED)
    ticket_reply(ticket=ticket, body="It has not come.", direction=Direction.INBOUND)
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN
    assert ticket.messages.count() == 3


def test_a_closed_ticket_takes_no_message_and_an_empty_one_is_refused():
    ticket = TicketFactory()

    with pytest.raises(ValidationError) as empty:
        ticket_reply(ticket=ticket, body="   ")
    ticket_set_status(ticket=ticket, status=Status.CLOSED)
    with pytest.raises(ValidationError) as closed:
        ticket_reply(ticket=ticket, body="Hello?")

    assert empty.value.message_dict["body"] == ["Write the message."]
    assert "closed" in closed.value.message_dict["body"][0]
    assert not Communication.objects.exists()


@pytest.mark.parametrize(
    ("start", "target"),
    [(start, target) for start in Status.values for target in Status.values if start != target],
)
def test_the_allowed_moves_and_no_others(start, target):
    ticket = TicketFactory(status=start)

    if target in TRANSITIONS[start]:
        assert ticket_set_status(ticket=ticket, status=target)
        ticket.refresh_from_db()
        assert ticket.status == target
        assert (ticket.closed_at is not None) == (target == Status.CLOSED)
    else:
        with pytest.raises(ValidationError) as error:
            ticket_set_status(ticket=ticket, status=target)
        assert "cannot become" in error.value.message_dict["status"][0]
        ticket.refresh_from_db()
        assert ticket.status == start


def test_a_move_to_the_same_status_changes_nothing():
    ticket = TicketFactory(status=Status.PENDING)

    assert not ticket_set_status(ticket=ticket, status=Status.PENDING)


def test_an_unknown_status_is_refused():
    with pytest.raises(ValidationError) as error:
        ticket_set_status(ticket=TicketFactory(), status="archived")

    assert error.value.message_dict["status"] == ["Choose a status."]


def test_assigning_and_unassigning():
    ticket = TicketFactory()
    sam = in_group("Support")

    assert ticket_assign(ticket=ticket, assignee=sam)
    assert not ticket_assign(ticket=ticket, assignee=sam)
    ticket.refresh_from_db()
    assert ticket.assignee == sam
    assert ticket_assign(ticket=ticket, assignee=None)
    ticket.refresh_from_db()
    assert ticket.assignee is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_closing_and_reopening_at_once_never_reopen_a_closed_ticket():
    """Resolved → closed and resolved → open at the same moment: the row lock makes one wait
    and judge its move from the state the other left. Either the reopening comes first and the
    closing follows, or the closing wins and the reopening is refused: closed either way."""

    def move(ticket_id, status, barrier, outcomes):
        try:
            barrier.wait()
            ticket = Ticket.objects.get(pk=ticket_id)
            outcomes[status] = ticket_set_status(ticket=ticket, status=status)
        except ValidationError:
            outcomes[status] = "refused"
        finally:
            connections.close_all()

    for _ in range(20):
        ticket = TicketFactory(status=Status.RESOLVED)
        barrier, outcomes = threading.Barrier(2), {}
        threads = [
            threading.Thread(target=move, args=(ticket.pk, status, barrier, outcomes))
            for status in (Status.CLOSED, Status.OPEN)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        ticket.refresh_from_db()
        assert ticket.status == Status.CLOSED and ticket.closed_at is not None
        assert outcomes[Status.CLOSED] is True
        assert outcomes[Status.OPEN] in (True, "refused")


# Pages ----------------------------------------------------------------------------------------


@pytest.fixture
def support(client):
    user = in_group("Support", username="sam")
    client.force_login(user)
    client.user = user
    return client


def listed(response) -> list[str]:
    return [ticket.subject for ticket in response.context["tickets"]]


def test_the_list_filters_by_status_priority_assignee_and_mine(support):
    other = in_group("Support", username="alex")
    TicketFactory(subject="mine, open", assignee=support.user)
    TicketFactory(subject="alex's, urgent", assignee=other, priority=Ticket.Priority.URGENT)
    TicketFactory(subject="nobody's, closed", status=Status.CLOSED)
    TicketFactory(subject="pending", status=Status.PENDING)

    assert listed(support.get(TICKETS_URL, {"mine": "on"})) == ["mine, open"]
    assert listed(support.get(TICKETS_URL, {"priority": "urgent"})) == ["alex's, urgent"]
    assert listed(support.get(TICKETS_URL, {"assignee": other.pk})) == ["alex's, urgent"]
    assert listed(support.get(TICKETS_URL, {"status": "closed"})) == ["nobody's, closed"]
    assert set(listed(support.get(TICKETS_URL, {"status": "unresolved"}))) == {
        "mine, open",
        "alex's, urgent",
        "pending",
    }


def test_a_bad_filter_is_named(support):
    response = support.get(TICKETS_URL, {"status": "archived"})

    assert response.status_code == 200
    assert "Status: Select a valid choice." in response.content.decode()


def test_the_list_query_count_is_pinned(support, assert_queries):
    for _ in range(30):
        TicketFactory(assignee=support.user)

    # session, user with permissions, the capped count, the page with customers and assignees,
    # the assignees to filter by
    with assert_queries(5):
        response = support.get(TICKETS_URL, {"status": "open"})
    assert len(listed(response)) == 25


def test_open_a_ticket_from_the_customer_page(support):
    customer = CustomerFactory()
    new_url = reverse("communications:ticket_create", args=[customer.pk])
    page = support.get(reverse("customers:detail", args=[customer.pk])).content.decode()
    assert f'href="{new_url}"' in page

    response = support.post(
        new_url,
        {
            "subject": "Wrong size",
            "body": "I got a 40, I ordered a 38.",
            "channel": "email",
            "priority": "normal",
            "assignee": support.user.pk,
        },
        follow=True,
    )

    ticket = Ticket.objects.get()
    assert response.redirect_chain[-1][0] == ticket_url(ticket)
    html = response.content.decode()
    assert "Ticket “Wrong size” opened." in html and "I got a 40, I ordered a 38." in html
    assert ticket.customer == customer and ticket.assignee == support.user


def test_a_ticket_without_subject_is_refused_at_the_field(support):
    customer = CustomerFactory()

    response = support.post(
        reverse("communications:ticket_create", args=[customer.pk]),
        {"subject": "", "channel": "email", "priority": "normal"},
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Ticket.objects.exists()


def test_reply_then_resolve_on_the_ticket_page(support):
    ticket = TicketFactory()

    response = support.post(
        ticket_url(ticket, "ticket_reply"),
        {"body": "A new pair is on its way.", "direction": "outbound", "channel": "email"},
        follow=True,
    )
    assert "Message added. The ticket is pending." in response.content.decode()
    assert "A new pair is on its way." in response.content.decode()

    response = support.post(
        ticket_url(ticket, "ticket_status"), {"status": "resolved"}, follow=True
    )
    assert "The ticket is resolved." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.RESOLVED


def test_an_empty_reply_is_refused_at_the_field(support):
    ticket = TicketFactory()

    response = support.post(
        ticket_url(ticket, "ticket_reply"),
        {"body": "", "direction": "outbound", "channel": "email"},
    )

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert not Communication.objects.exists()


def test_a_move_that_is_not_allowed_is_refused_with_a_message(support):
    ticket = TicketFactory(status=Status.CLOSED)

    response = support.post(ticket_url(ticket, "ticket_status"), {"status": "open"}, follow=True)

    assert "Status: Select a valid choice." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED


def test_assign_on_the_ticket_page(support):
    ticket = TicketFactory()

    response = support.post(
        ticket_url(ticket, "ticket_assign"), {"assignee": support.user.pk}, follow=True
    )

    assert "The ticket is assigned to sam." in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.assignee == support.user


def test_the_ticket_page_query_count_is_pinned(support, assert_queries):
    ticket = TicketFactory()
    for n in range(40):
        ticket_reply(ticket=ticket, body=f"message {n}", staff_user=support.user)

    # session, user with permissions, the ticket with customer and assignee, the messages
    # counted, their page with staff, the assignees (for the form)
    with assert_queries(6):
        response = support.get(ticket_url(ticket))

    assert [m.body for m in response.context["messages_page"]][-1] == "message 39"


@pytest.mark.parametrize("group", ["Marketing", "Loyalty managers"])
def test_only_support_and_managers_handle_tickets(client_in_group, group):
    ticket = TicketFactory()
    client = client_in_group(group)

    assert client.get(TICKETS_URL).status_code == 403
    assert client.get(ticket_url(ticket)).status_code == 403
    assert client.post(ticket_url(ticket, "ticket_status"), {"status": "closed"}).status_code == 403
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN


def test_tickets_read_through_visibility(support, monkeypatch):
    from core import visibility

    ticket = TicketFactory()
    monkeypatch.setattr(visibility, "customer_filter", lambda user, via="": visibility.NOTHING)

    assert support.get(ticket_url(ticket)).status_code == 404
    assert listed(support.get(TICKETS_URL)) == []
