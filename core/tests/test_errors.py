"""Error pages in the site's layout, and how errors are logged."""

import logging

import pytest
from django.test import Client, override_settings
from django.urls import include, path, reverse

from core.logging import PermissionDeniedWithoutTraceback
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def broken_view(request):
    raise RuntimeError("the view fell over")


urlpatterns = [path("broken/", broken_view), path("", include("crm.urls"))]
handler500 = "core.views.server_error"


def test_404_page_has_the_navigation_and_a_way_back(client):
    client.force_login(UserFactory(username="clerk"))

    response = client.get("/no-such-page/")

    assert response.status_code == 404
    page = response.content.decode()
    assert "This page does not exist" in page
    assert 'class="navbar' in page and "Log out clerk" in page
    assert f'href="{reverse("home")}"' in page


def test_403_page_explains_and_is_logged_without_a_traceback(client, caplog):
    client.force_login(UserFactory())  # no permission at all

    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = client.get(reverse("customers:list"))

    assert response.status_code == 403
    assert "You may not open this page" in response.content.decode()
    assert "ask a manager" in response.content.decode()
    [record] = [r for r in caplog.records if r.name == "django.request"]
    assert record.status_code == 403
    assert record.exc_info is None


@override_settings(ROOT_URLCONF=__name__)
def test_500_page_keeps_the_layout_and_logs_one_traceback(caplog):
    client = Client(raise_request_exception=False)
    client.force_login(UserFactory(username="clerk"))

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/broken/")

    assert response.status_code == 500
    page = response.content.decode()
    assert "Something went wrong on our side" in page and "Log out clerk" in page
    [record] = [r for r in caplog.records if r.exc_info]
    assert record.exc_info[0] is RuntimeError


def test_errors_reach_one_handler(settings):
    """Django's own console handler is gone: a record of django.request reaches only the
    root's one handler, so an error is written once."""
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django.request").handlers == []
    assert settings.LOGGING["root"]["handlers"] == ["console"]


def test_the_403_filter_keeps_other_tracebacks():
    keep = logging.LogRecord("django.request", logging.ERROR, "", 0, "boom", (), (None, None, None))
    keep.status_code = 500
    drop = logging.LogRecord("django.request", logging.WARNING, "", 0, "no", (), (None, None, None))
    drop.status_code = 403

    assert PermissionDeniedWithoutTraceback().filter(keep) and keep.exc_info is not None
    assert PermissionDeniedWithoutTraceback().filter(drop) and drop.exc_info is None
