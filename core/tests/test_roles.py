"""The staff roles: each app declares them on its AppConfig (core/roles.py) and the groups are
synced after migrate."""

import ast
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ImproperlyConfigured

from core.roles import (
    ALL,
    LOYALTY_MANAGERS,
    MANAGERS,
    MARKETING,
    STAFF_GROUPS,
    SUPPORT,
    role_permissions,
    staff_groups_sync,
    staff_groups_sync_after_migrate,
)

pytestmark = pytest.mark.django_db


def test_managers_may_start_a_run():
    managers = Group.objects.get(name="Managers")

    assert managers.permissions.filter(codename="add_analyticsrun").exists()


def granted(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    }


def test_after_migrate_each_group_holds_what_the_apps_declare():
    every = {
        f"{p.content_type.app_label}.{p.codename}"
        for p in Permission.objects.select_related("content_type")
    }
    for name, codes in role_permissions().items():
        expected = {
            perm
            for perm in every
            for app_label, codename in codes
            if perm.split(".")[0] == app_label and codename in (ALL, perm.split(".")[1])
        }
        assert granted(name) == expected, name


def test_support_gets_the_counter_work_of_customers_and_loyalty_and_no_more():
    support = granted(SUPPORT)

    assert {"customers.change_customer", "loyalty.add_redemption"} <= support
    assert "customers.delete_customer" not in support
    assert "customers.add_tag" not in support  # tags a customer, does not create tags
    assert not {perm for perm in support if perm.startswith("django_celery_beat.")}


def test_managers_hold_every_permission_of_the_crm_apps_and_the_schedules():
    for app_label in ("customers", "loyalty", "django_celery_beat"):
        codenames = set(
            Permission.objects.filter(content_type__app_label=app_label).values_list(
                "codename", flat=True
            )
        )
        assert {f"{app_label}.{c}" for c in codenames} <= granted(MANAGERS), app_label


def test_a_new_apps_declaration_adds_its_roles_without_touching_the_others(monkeypatch):
    before = {name: granted(name) for name in (SUPPORT, LOYALTY_MANAGERS, MANAGERS)}
    segments = apps.get_app_config("segments")
    monkeypatch.setattr(segments, "roles", {MARKETING: ("customers.view_address",)}, raising=False)

    staff_groups_sync()

    assert "customers.view_address" in granted(MARKETING)
    assert {name: granted(name) for name in before} == before


def test_sync_never_revokes_what_an_administrator_granted():
    marketing = Group.objects.get(name=MARKETING)
    extra = Permission.objects.get(content_type__app_label="customers", codename="add_note")
    marketing.permissions.add(extra)

    staff_groups_sync()

    assert "customers.add_note" in granted(MARKETING)


def test_an_unknown_group_in_a_declaration_is_refused(monkeypatch):
    monkeypatch.setattr(apps.get_app_config("loyalty"), "roles", {"Cashiers": ("view_reward",)})

    with pytest.raises(ImproperlyConfigured, match="Cashiers"):
        role_permissions()


def test_the_receiver_syncs_once_after_the_last_app():
    Group.objects.all().delete()
    customers = apps.get_app_config("customers")
    last = [config for config in apps.get_app_configs() if config.models_module][-1]

    staff_groups_sync_after_migrate(sender=customers)
    assert not Group.objects.exists()

    staff_groups_sync_after_migrate(sender=last)
    assert set(Group.objects.values_list("name", flat=True)) == set(STAFF_GROUPS)


def test_no_migration_imports_the_roles():
    """Groups are synced after migrate; a migration that imported the live roles would run
    today's code against yesterday's schema."""
    for config in apps.get_app_configs():
        folder = Path(config.path) / "migrations"
        if not folder.is_dir() or "site-packages" in folder.parts:
            continue
        for migration in folder.glob("*.py"):
            imported = set()
            for node in ast.walk(ast.parse(migration.read_text())):
                if isinstance(node, ast.ImportFrom):
                    imported |= {node.module or "", *(alias.name for alias in node.names)}
                elif isinstance(node, ast.Import):
                    imported |= {alias.name for alias in node.names}
            assert not {name for name in imported if "roles" in name}, migration
