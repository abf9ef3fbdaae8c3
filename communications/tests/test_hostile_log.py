"""Hostile query strings on the log page, the ticket list and their admin changelists: each value
is refused at its field or ignored, never a server error (as crm/tests/test_hostile_input.py
does for the customers' and loyalty's pages)."""

import pytest
from django.contrib import admin
from django.urls import reverse

from communications.filters import CommunicationFilter, TicketFilter
from communications.models import Communication, Ticket, TrackingEvent
from communications.tests.factories import CommunicationFactory, TicketFactory
from core.admin import GuardedChangeList
from crm.tests.test_hostile_input import (
    changelist_params,
    each_value_in_each_param,
    each_value_in_every_param,
    server_errors,
)
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_client(client_in_group):
    client = client_in_group("Managers")
    client.raise_request_exception = False
    return client


@pytest.fixture
def some_of_everything():
    staff = UserFactory(is_staff=True)
    ticket = TicketFactory(assignee=staff)
    message = CommunicationFactory(ticket=ticket, staff_user=staff)
    TrackingEvent.objects.create(communication=message, kind=TrackingEvent.Kind.UNSUBSCRIBE)


@pytest.mark.parametrize(
    ("url_name", "filterset"),
    [("communications:log", CommunicationFilter), ("communications:tickets", TicketFilter)],
)
def test_the_staff_lists_never_fail_on_hostile_parameters(
    manager_client, some_of_everything, url_name, filterset
):
    params = [*filterset.base_filters, "page"]
    url = reverse(url_name)

    failures = server_errors(manager_client, url, each_value_in_each_param(params))
    failures += server_errors(manager_client, url, each_value_in_every_param(params))

    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("model", [Communication, Ticket], ids=lambda model: model.__name__)
def test_the_admin_changelists_never_fail_on_hostile_parameters(
    manager_client, some_of_everything, model
):
    model_admin = admin.site._registry[model]
    changelist_class = model_admin.get_changelist(None)
    assert issubclass(changelist_class, GuardedChangeList)
    user = UserFactory(is_superuser=True)
    params = changelist_params(model_admin, user)
    url = reverse(f"admin:communications_{model._meta.model_name}_changelist")

    failures = server_errors(manager_client, url, each_value_in_each_param(params))

    assert not failures, "\n".join(failures)


def test_a_search_with_a_nul_character_is_answered(manager_client, some_of_everything):
    url = reverse("admin:communications_ticket_changelist")

    response = manager_client.get(url, {"q": "a\x00b"})

    assert response.status_code == 302
    assert response.headers["Location"] == f"{url}?e=1"  # the admin's "bad lookup" answer
