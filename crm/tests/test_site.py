import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from customers.tests.factories import CustomerFactory, NoteFactory, OrderFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_login_leads_home_with_navigation(client, user_with_perms):
    user_with_perms(
        "customers.view_customer", "customers.view_note", "customers.view_address", username="clerk"
    )

    response = client.post(
        reverse("login"), {"username": "clerk", "password": "password"}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("home")
    page = response.content.decode()
    for link in ("/customers/", "/customers/follow-ups/", "/customers/addresses/pending/"):
        assert f'href="{link}"' in page
    # Apps that have no pages yet are not in the navigation; the loyalty admin is for staff.
    for section in ("Segments", "Loyalty", "Communications"):
        assert f">{section}</a>" not in page
    assert "vendor/bootstrap-5.3.8/bootstrap.min.css" in page


def test_loyalty_in_the_navigation_leads_to_its_admin(client, user_with_perms):
    client.force_login(user_with_perms("loyalty.view_loyaltyprogram", is_staff=True))

    page = client.get(reverse("home")).content.decode()

    assert f'href="{reverse("admin:app_list", args=["loyalty"])}">Loyalty</a>' in page


def test_wrong_password_is_refused(client):
    UserFactory(username="clerk")

    response = client.post(reverse("login"), {"username": "clerk", "password": "nope"})

    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()


def test_health_reports_the_database(client):
    response = client.get(reverse("health"))

    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.parametrize(
    "model", ["customer", "order", "note", "address", "tag"], ids=lambda name: name
)
def test_admin_changelists_have_bounded_queries(admin_client, django_assert_max_num_queries, model):
    for _ in range(15):
        customer = CustomerFactory()
        OrderFactory(customer=customer, status="delivered")
        NoteFactory(customer=customer)

    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(f"admin:customers_{model}_changelist"))

    assert response.status_code == 200


def test_admin_customer_change_page_shows_stats_read_only(admin_client):
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered")

    response = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "total_spent" not in form.fields
    assert "email" in form.fields


def test_admin_search_finds_a_customer_by_email(admin_client):
    wanted = CustomerFactory(email="needle@example.com")
    CustomerFactory.create_batch(3)

    response = admin_client.get(reverse("admin:customers_customer_changelist"), {"q": "needle"})

    assert list(response.context["cl"].result_list) == [wanted]


def _manage(*args, env):
    return subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_need_a_secret_key_and_pass_deploy_checks():
    base_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
    }
    # Run from a directory without a .env file so only these variables count.
    base_env["DJANGO_DEBUG"] = "false"

    missing_key = _manage("check", env=base_env)
    assert missing_key.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in missing_key.stderr

    production = {
        **base_env,
        "DJANGO_SECRET_KEY": "x" * 20 + "-a-long-random-production-secret-key-1234567890",
        "DJANGO_ALLOWED_HOSTS": "crm.example.com",
    }
    deploy = _manage("check", "--deploy", "--fail-level", "WARNING", env=production)
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr


@pytest.mark.django_db
def test_order_admin_finds_an_order_by_number_email_or_external_id(admin_client):
    from customers.tests.factories import CustomerFactory, OrderFactory

    ada = CustomerFactory(email="ada@example.com", external_id="POS-7")
    mine = OrderFactory(customer=ada, number="A-100")
    other = OrderFactory(number="B-200")
    url = reverse("admin:customers_order_changelist")

    def found(term):
        return {order.pk for order in admin_client.get(url, {"q": term}).context["cl"].result_list}

    assert found("B-200") == {other.pk}
    assert found("ADA@example.com") == {mine.pk}
    assert found("POS-7") == {mine.pk}
    assert found("nothing") == set()


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_unfiltered_big_table_is_counted_from_the_statistics(admin_client, monkeypatch):
    from django.db import connection

    from core.admin import EstimatedCountPaginator
    from customers.tests.factories import OrderFactory

    OrderFactory.create_batch(3)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_order")
    monkeypatch.setattr(EstimatedCountPaginator, "ESTIMATE_FROM", 1)
    url = reverse("admin:customers_order_changelist")

    everything = admin_client.get(url)
    filtered = admin_client.get(url, {"status__exact": "pending"})

    assert everything.context["cl"].paginator.estimated
    assert "about 3 orders" in everything.content.decode()
    assert not filtered.context["cl"].paginator.estimated


def test_the_favicon_is_served(client):
    response = client.get("/favicon.ico")

    assert response.status_code == 302
    assert response["Location"].endswith("favicon.svg")
    assert (settings.BASE_DIR / "static" / "favicon.svg").exists()
