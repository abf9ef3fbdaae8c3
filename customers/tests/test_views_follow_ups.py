"""Follow-ups due: which notes show, in what order, with what a caller needs, for whom."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Note
from customers.tests.factories import CustomerFactory, NoteFactory, UserFactory

pytestmark = pytest.mark.django_db

FOLLOW_UPS_URL = reverse("customers:follow_ups")
# Session, user with permissions, page count (up to the cap), page rows.
FOLLOW_UPS_QUERIES = 4


def due_note(days_ago=0, **fields):
    return NoteFactory(follow_up_on=timezone.localdate() - timedelta(days=days_ago), **fields)


@pytest.fixture
def viewer(client_with_perms):
    return client_with_perms("customers.view_note", "customers.change_note")


def test_lists_open_follow_ups_due_by_today_oldest_first(viewer):
    today = due_note(days_ago=0)
    oldest = due_note(days_ago=10)
    middle = due_note(days_ago=2)
    due_note(days_ago=5, done=True)
    NoteFactory(follow_up_on=timezone.localdate() + timedelta(days=1))
    NoteFactory(follow_up_on=None)

    response = viewer.get(FOLLOW_UPS_URL)

    assert response.status_code == 200
    assert [n.pk for n in response.context["notes"]] == [oldest.pk, middle.pk, today.pk]
    body = response.content.decode()
    assert body.index(f'id="note-{oldest.pk}"') < body.index(f'id="note-{today.pk}"')


def test_overdue_notes_say_by_how_many_days(viewer):
    due_note(days_ago=3)
    due_note(days_ago=1)
    due_note(days_ago=0)

    body = viewer.get(FOLLOW_UPS_URL).content.decode()

    assert "overdue by 3 days" in body
    assert "overdue by 1 day<" in body
    assert "due today" in body


def test_row_shows_what_the_caller_needs(viewer):
    customer = CustomerFactory(
        first_name="Ottilie",
        last_name="Brandvold",
        phone="+14155550134",
        email="ottilie@example.com",
        do_not_contact=True,
    )
    author = UserFactory(first_name="Sam", last_name="Clerk")
    due_note(
        customer=customer,
        author=author,
        kind=Note.Kind.COMPLAINT,
        priority=Note.Priority.URGENT,
        body="Call back about the late parcel",
    )

    body = viewer.get(FOLLOW_UPS_URL).content.decode()

    assert f'href="{reverse("customers:detail", args=[customer.pk])}"' in body
    assert "Ottilie Brandvold" in body
    assert 'href="tel:+14155550134"' in body
    assert 'href="mailto:ottilie@example.com"' in body
    assert "Do not contact" in body
    assert "Complaint" in body
    assert 'text-bg-danger">Urgent priority' in body
    assert "Call back about the late parcel" in body
    assert "Sam Clerk" in body


def test_customer_without_phone_or_email_still_listed(viewer):
    customer = CustomerFactory(first_name="Walk", last_name="In", phone="", email="")
    due_note(customer=customer, author=None)

    body = viewer.get(FOLLOW_UPS_URL).content.decode()

    assert "Walk In" in body
    assert "tel:" not in body
    assert "mailto:" not in body


def test_done_form_posts_to_note_done_with_next_back_here(viewer):
    note = due_note(days_ago=1)

    body = viewer.get(FOLLOW_UPS_URL, {"page": 1}).content.decode()

    done_url = reverse("customers:note_done", args=[note.pk])
    form_start = body.index(f'<form method="post" action="{done_url}">')
    form = body[form_start : body.index("</form>", form_start)]
    assert 'name="csrfmiddlewaretoken"' in form
    assert f'<input type="hidden" name="next" value="{FOLLOW_UPS_URL}?page=1">' in form
    assert ">Done</button>" in form
    assert "hx-post" not in form


def test_done_button_hidden_without_change_permission(client_with_perms):
    note = due_note()

    body = client_with_perms("customers.view_note").get(FOLLOW_UPS_URL).content.decode()

    assert note.body in body
    assert reverse("customers:note_done", args=[note.pk]) not in body


def test_paginated_25_per_page(viewer):
    notes = [due_note(days_ago=40 - n) for n in range(30)]

    first = viewer.get(FOLLOW_UPS_URL)
    second = viewer.get(FOLLOW_UPS_URL, {"page": 2})
    beyond = viewer.get(FOLLOW_UPS_URL, {"page": 5})

    assert [n.pk for n in first.context["notes"]] == [n.pk for n in notes[:25]]
    assert [n.pk for n in second.context["notes"]] == [n.pk for n in notes[25:]]
    assert "Page 1 of 2" in first.content.decode()
    assert beyond.status_code == 200
    assert beyond.context["page_obj"].number == 2


def test_more_follow_ups_than_the_cap_are_shown_as_the_cap_and_a_plus(viewer, settings):
    settings.CRM_LIST_COUNT_CAP = 26
    notes = [due_note(days_ago=40 - n) for n in range(30)]

    first = viewer.get(FOLLOW_UPS_URL)
    past_the_cap = viewer.get(FOLLOW_UPS_URL, {"page": 3})

    body = first.content.decode()
    assert "26+ open, due by" in body
    assert "Page 1 of 2+<" in body
    assert past_the_cap.context["page_obj"].number == 2
    assert [n.pk for n in past_the_cap.context["notes"]] == [notes[25].pk]


def test_the_count_of_follow_ups_has_a_thousands_separator(viewer, settings):
    settings.CRM_LIST_COUNT_CAP = 2000
    customer, today = CustomerFactory(), timezone.localdate()
    Note.objects.bulk_create(
        Note(customer=customer, body=f"Call {n}", follow_up_on=today) for n in range(1001)
    )

    body = viewer.get(FOLLOW_UPS_URL).content.decode()

    assert "1,001 open, due by" in body


def test_nothing_due_empty_state(viewer):
    due_note(done=True)

    body = viewer.get(FOLLOW_UPS_URL).content.decode()

    assert "Nothing due" in body


def test_anonymous_user_is_sent_to_log_in(client):
    response = client.get(FOLLOW_UPS_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_permission_gets_403_and_no_data(client_with_perms):
    due_note(customer=CustomerFactory(first_name="Zebulon", last_name="Quackenbush"))

    response = client_with_perms("customers.view_customer").get(FOLLOW_UPS_URL)

    assert response.status_code == 403
    assert "Quackenbush" not in response.content.decode()


@pytest.mark.parametrize("group", ["Support", "Marketing"])
def test_staff_groups_with_view_note_see_the_list(client_in_group, group):
    due_note(customer=CustomerFactory(last_name="Quackenbush"))

    response = client_in_group(group).get(FOLLOW_UPS_URL)

    assert response.status_code == 200
    assert "Quackenbush" in response.content.decode()


def test_query_count_is_pinned(viewer, assert_queries):
    author = UserFactory()
    for n in range(30):
        due_note(days_ago=n, author=author)

    with assert_queries(FOLLOW_UPS_QUERIES) as queries:
        response = viewer.get(FOLLOW_UPS_URL)

    assert len(response.context["notes"]) == 25
    count = queries.captured_queries[2]["sql"]
    assert count.startswith("SELECT COUNT(*) FROM (SELECT")
    assert "LIMIT 1001" in count


def test_query_count_does_not_grow_with_the_rows(viewer):
    author = UserFactory()
    due_note(author=author)
    with CaptureQueriesContext(connection) as one_row:
        viewer.get(FOLLOW_UPS_URL)
    for n in range(29):
        due_note(days_ago=n + 1, author=author)
    with CaptureQueriesContext(connection) as full_page:
        viewer.get(FOLLOW_UPS_URL)

    assert len(full_page) == len(one_row)


def test_done_returns_to_this_page_without_the_note(viewer):
    done, still_open = due_note(days_ago=2), due_note(days_ago=1)
    body = viewer.get(FOLLOW_UPS_URL, {"page": 1}).content.decode()
    next_url = f"{FOLLOW_UPS_URL}?page=1"
    assert f'name="next" value="{next_url}"' in body

    response = viewer.post(
        reverse("customers:note_done", args=[done.pk]), {"next": next_url}, follow=True
    )

    done.refresh_from_db()
    assert done.done
    assert response.redirect_chain == [(next_url, 302)]
    assert [n.pk for n in response.context["notes"]] == [still_open.pk]
