"""core/auth.py: the session's user is read with their permissions, in one query."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from core.auth import PermissionsInOneQueryBackend
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BACKEND = "core.auth.PermissionsInOneQueryBackend"


def permission(codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label="customers", codename=codename)


@pytest.fixture
def clerk():
    """A user with one permission of their own and two through a group."""
    user = UserFactory()
    user.user_permissions.add(permission("view_customer"))
    group = Group.objects.create(name="Counter")
    group.permissions.add(permission("view_note"), permission("add_note"))
    user.groups.add(group)
    return user


def test_the_user_comes_with_their_own_and_their_groups_permissions(
    clerk, django_assert_num_queries
):
    with django_assert_num_queries(1):
        user = PermissionsInOneQueryBackend().get_user(clerk.pk)
        assert user.has_perm("customers.view_customer")
        assert user.has_perm("customers.add_note")
        assert not user.has_perm("customers.delete_customer")
        assert user.has_module_perms("customers")

    assert user.get_user_permissions() == {"customers.view_customer"}
    assert user.get_group_permissions() == {"customers.view_note", "customers.add_note"}


def test_a_user_without_permissions_has_none():
    user = PermissionsInOneQueryBackend().get_user(UserFactory().pk)

    assert user.get_all_permissions() == set()


def test_a_user_loaded_otherwise_reads_both_lists_in_one_query(clerk, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert clerk.get_all_permissions() == {
            "customers.view_customer",
            "customers.view_note",
            "customers.add_note",
        }


def test_a_superuser_holds_every_permission_without_a_query(django_assert_num_queries):
    admin = UserFactory(is_superuser=True)

    with django_assert_num_queries(1):
        user = PermissionsInOneQueryBackend().get_user(admin.pk)
        assert user.has_perm("customers.delete_customer")


def test_an_inactive_or_missing_user_is_not_loaded():
    inactive = UserFactory(is_active=False)

    assert PermissionsInOneQueryBackend().get_user(inactive.pk) is None
    assert PermissionsInOneQueryBackend().get_user(inactive.pk + 1000) is None


def test_a_page_reads_the_session_then_the_user_with_permissions(
    client, clerk, assert_queries, settings
):
    assert BACKEND in settings.AUTHENTICATION_BACKENDS
    client.force_login(clerk, backend=BACKEND)

    with assert_queries(3) as queries:  # session, user with permissions, follow-ups counted
        response = client.get(reverse("customers:follow_ups"))

    assert response.status_code == 200
    assert "auth_permission" in queries.captured_queries[1]["sql"]
