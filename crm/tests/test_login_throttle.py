"""Failed logins are throttled (django-axes): after a few wrong passwords for one username from
one address, even the right password is refused for a while, on the staff login and the admin
login alike; the page says when to try again; a Manager can unlock the account in the admin, an
operator with `manage.py axes_reset_username`."""

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.urls import reverse

from core.roles import MANAGERS
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIMIT = 5  # the documented default (docs/operations.md)
STAFF_LOGIN = reverse("login")
ADMIN_LOGIN = reverse("admin:login")
HOME = reverse("home")


@pytest.fixture
def clerk():
    return UserFactory(username="clerk", password="right-password")


def attempt(client, url, password, *, username="clerk", address="203.0.113.7"):
    return client.post(
        url, {"username": username, "password": password}, REMOTE_ADDR=address, follow=False
    )


def logged_in(client) -> bool:
    return SESSION_KEY in client.session


def guess(client, url, times, **kwargs):
    for _ in range(times):
        attempt(client, url, "wrong-password", **kwargs)


def test_throttling_is_on_in_the_tests_too(settings):
    assert settings.AXES_ENABLED
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.AXES_COOLOFF_TIME.total_seconds() == 15 * 60
    assert settings.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"


@pytest.mark.parametrize("url", [STAFF_LOGIN, ADMIN_LOGIN], ids=["staff", "admin"])
def test_thirty_wrong_passwords_then_the_right_one_is_refused(client, clerk, url):
    clerk.is_staff = True
    clerk.save()
    guess(client, url, 30)

    response = attempt(client, url, "right-password")

    assert response.status_code == 429
    assert not logged_in(client)
    page = response.content.decode()
    assert "Too many failed logins" in page
    assert "Try again in 15 minutes" in page


@pytest.mark.parametrize("url", [STAFF_LOGIN, ADMIN_LOGIN], ids=["staff", "admin"])
def test_the_lockout_page_is_in_the_sites_layout(client, clerk, url):
    guess(client, url, LIMIT)

    page = attempt(client, url, "right-password").content.decode()

    assert "vendor/bootstrap-5.3.8/bootstrap.min.css" in page
    assert "<title>" in page and "Log in" in page
    assert "clerk" in page
    assert f'href="{STAFF_LOGIN}"' in page or f'href="{url}"' in page


def test_the_limit_is_five_failures(client, clerk):
    guess(client, STAFF_LOGIN, LIMIT - 1)

    response = attempt(client, STAFF_LOGIN, "right-password")

    assert response.status_code == 302 and response["Location"] == HOME
    assert logged_in(client)


def test_the_fifth_failure_locks(client, clerk):
    guess(client, STAFF_LOGIN, LIMIT - 1)

    fifth = attempt(client, STAFF_LOGIN, "wrong-password")

    assert fifth.status_code == 429
    assert attempt(client, STAFF_LOGIN, "right-password").status_code == 429


def test_a_successful_login_starts_the_count_again(client, clerk):
    guess(client, STAFF_LOGIN, LIMIT - 1)
    assert attempt(client, STAFF_LOGIN, "right-password").status_code == 302
    client.logout()

    guess(client, STAFF_LOGIN, LIMIT - 1)

    assert attempt(client, STAFF_LOGIN, "right-password").status_code == 302


def test_the_lock_holds_the_username_from_that_address_only(client, clerk):
    """Locked per username and address together: a colleague at the same till and the same
    person from another address are not locked out by someone else's guessing."""
    UserFactory(username="colleague", password="colleague-password")
    guess(client, STAFF_LOGIN, LIMIT, address="203.0.113.7")

    assert attempt(client, STAFF_LOGIN, "right-password").status_code == 429
    from_elsewhere = attempt(client, STAFF_LOGIN, "right-password", address="198.51.100.20")
    assert from_elsewhere.status_code == 302
    client.logout()
    colleague = attempt(client, STAFF_LOGIN, "colleague-password", username="colleague")
    assert colleague.status_code == 302


def test_the_lock_ends_after_the_cool_off(client, clerk):
    guess(client, STAFF_LOGIN, LIMIT)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=16)
    )

    response = attempt(client, STAFF_LOGIN, "right-password")

    assert response.status_code == 302
    assert logged_in(client)


def test_the_lock_is_shared_by_the_staff_and_admin_logins(client, clerk):
    clerk.is_staff = True
    clerk.save()
    guess(client, STAFF_LOGIN, LIMIT)

    assert attempt(client, ADMIN_LOGIN, "right-password").status_code == 429


def test_managers_may_unlock_an_account_in_the_admin(client, clerk):
    guess(client, STAFF_LOGIN, LIMIT)
    manager = UserFactory(username="manager", is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGERS))
    admin = client.__class__()
    admin.force_login(manager)
    locked = AccessAttempt.objects.get(username="clerk")

    changelist = admin.get(reverse("admin:axes_accessattempt_changelist"))
    assert changelist.status_code == 200
    assert "clerk" in changelist.content.decode()
    response = admin.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [locked.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert attempt(client, STAFF_LOGIN, "right-password").status_code == 302


def test_the_managers_group_holds_the_unlock_permissions():
    managers = Group.objects.get(name=MANAGERS)

    codenames = set(
        managers.permissions.filter(content_type__app_label="axes").values_list(
            "codename", flat=True
        )
    )

    assert {"view_accessattempt", "delete_accessattempt", "view_accesslog"} <= codenames


def test_an_operator_may_unlock_a_username_from_the_shell(client, clerk):
    guess(client, STAFF_LOGIN, LIMIT)
    out = StringIO()

    call_command("axes_reset_username", "clerk", stdout=out)

    assert "removed" in out.getvalue()
    assert attempt(client, STAFF_LOGIN, "right-password").status_code == 302


def test_a_wrong_password_below_the_limit_still_shows_the_form_error(client, clerk):
    response = attempt(client, STAFF_LOGIN, "wrong-password")

    assert response.status_code == 200
    assert "enter a correct username and password" in response.content.decode()
