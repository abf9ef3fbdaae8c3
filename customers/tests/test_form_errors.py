"""A form sent back with errors says so first: in the page title, and in a summary above the
form that links each error to its field."""

import pytest
from django.urls import reverse

from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_an_edit_with_errors_is_summed_up_above_the_form(client_in_group):
    customer = CustomerFactory(first_name="Ada", last_name="Lovelace")
    client = client_in_group("Support")

    response = client.post(
        reverse("customers:update", args=[customer.pk]),
        {"first_name": "Ada", "last_name": "Lovelace", "email": "not an email"},
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<title>Error: Edit Ada Lovelace" in body
    summary = body.split('id="error-summary"')[1].split("</div>")[0]
    assert 'href="#id_email"' in summary
    assert "Enter a valid email address." in summary
    assert body.index('id="error-summary"') < body.index('<form method="post" novalidate>')


def test_a_form_without_errors_has_no_summary(client_in_group):
    customer = CustomerFactory()

    body = client_in_group("Support").get(reverse("customers:update", args=[customer.pk]))

    assert 'id="error-summary"' not in body.content.decode()
    assert "<title>Error:" not in body.content.decode()


def test_a_failed_log_in_says_so_in_the_title(client, db):
    response = client.post(reverse("login"), {"username": "nobody", "password": "wrong"})

    assert "<title>Error: Log in" in response.content.decode()
