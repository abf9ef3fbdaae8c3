"""The export of the admins that stream their CSV: the ledger and the log of contacts."""

import csv
import io

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from communications.tests.factories import CommunicationFactory
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

EXPORT_URL = reverse("admin:communications_communication_export")
CHANGELIST_URL = reverse("admin:communications_communication_changelist")


def rows_of(response) -> list[list[str]]:
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text, newline="")))


def export_form(response) -> dict:
    """The export form's fields as the page offers them, CSV chosen, every column ticked."""
    form = response.context["form"]
    data = {name: "on" for name, field in form.fields.items() if name.startswith("communication")}
    return {**data, "format": "0", "resource": "0"}


@pytest.fixture
def admin_client_logged(client, user_with_perms):
    client.force_login(
        user_with_perms("communications.view_communication", "customers.view_customer")
    )
    return client


def test_whole_filtered_changelist_exports_as_streamed_safe_csv(admin_client_logged):
    CommunicationFactory(subject="=HYPERLINK(1)", channel="email")
    CommunicationFactory(subject="By phone", channel="phone")

    page = admin_client_logged.get(f"{EXPORT_URL}?channel__exact=email")
    response = admin_client_logged.post(f"{EXPORT_URL}?channel__exact=email", export_form(page))

    rows = rows_of(response)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    subject = rows[0].index("subject")
    assert [row[subject] for row in rows[1:]] == ["'=HYPERLINK(1)"]


def test_export_action_on_selected_rows(admin_client_logged):
    chosen = CommunicationFactory(subject="Chosen")
    CommunicationFactory(subject="Left out")

    form_page = admin_client_logged.post(
        CHANGELIST_URL, {"action": "export_admin_action", "_selected_action": [chosen.pk]}
    )
    data = {**export_form(form_page), "export_items": [str(chosen.pk)]}
    rows = rows_of(admin_client_logged.post(EXPORT_URL, data))

    subject = rows[0].index("subject")
    assert [row[subject] for row in rows[1:]] == ["Chosen"]


@pytest.mark.parametrize("contacts", [2, 9])
def test_export_query_count_does_not_grow_with_rows(admin_client_logged, assert_queries, contacts):
    customer = CustomerFactory()
    CommunicationFactory.create_batch(contacts, customer=customer)
    page = admin_client_logged.get(EXPORT_URL)
    response = admin_client_logged.post(EXPORT_URL, export_form(page))

    # The rows with their customer, staff user and campaign: one SELECT, whatever their number.
    with assert_queries(1):
        rows = rows_of(response)

    assert len(rows) == contacts + 1


def test_export_needs_the_view_permission(client_with_perms):
    client = client_with_perms("customers.view_customer")

    assert client.get(EXPORT_URL).status_code == 403


def test_ledger_exports_from_its_admin(client, user_with_perms):
    from loyalty.models import LoyaltyTransaction

    client.force_login(user_with_perms("loyalty.view_loyaltytransaction"))
    url = reverse("admin:loyalty_loyaltytransaction_export")

    page = client.get(url)
    form = page.context["form"]
    data = {name: "on" for name in form.fields if name.startswith("loyaltytransaction")}
    rows = rows_of(client.post(url, {**data, "format": "0", "resource": "0"}))

    assert rows[0][:2] == ["id", "created_at"]
    assert len(rows) == LoyaltyTransaction.objects.count() + 1
