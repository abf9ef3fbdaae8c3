"""The staff roles: Django groups, and the permissions each app's models give them.

Every app declares its share on its ``AppConfig``, next to its own code::

    class LoyaltyConfig(AppConfig):
        roles = {
            SUPPORT: ("view_loyaltyaccount", "add_redemption"),
            LOYALTY_MANAGERS: (ALL,),
        }

A code is a permission codename of the declaring app's models, ``ALL`` for every permission of
them, or "app_label.codename" / "app_label.*" for an app that cannot declare its own (a
third-party app). After every ``migrate`` one receiver, connected by ``core``, creates the groups
and grants what the apps declare, the way django.contrib.auth creates permissions. It adds and
never revokes, so what an administrator grants a group by hand stays.
"""

from collections.abc import Iterable

from django.apps import AppConfig
from django.apps import apps as global_apps
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, router
from django.db.models import Q

SUPPORT = "Support"
MARKETING = "Marketing"
LOYALTY_MANAGERS = "Loyalty managers"
MANAGERS = "Managers"
STAFF_GROUPS = (SUPPORT, MARKETING, LOYALTY_MANAGERS, MANAGERS)

ALL = "*"


def role_permissions(
    app_configs: Iterable[AppConfig] | None = None,
) -> dict[str, set[tuple[str, str]]]:
    """{group name: {(app_label, codename or ALL)}} from the apps' ``roles`` declarations."""
    declared: dict[str, set[tuple[str, str]]] = {name: set() for name in STAFF_GROUPS}
    for config in app_configs if app_configs is not None else global_apps.get_app_configs():
        for group, codes in getattr(config, "roles", {}).items():
            if group not in declared:
                raise ImproperlyConfigured(
                    f"{config.label}.roles names {group!r}; the staff groups are "
                    f"{', '.join(STAFF_GROUPS)}."
                )
            for code in codes:
                app_label, _, codename = code.rpartition(".")
                declared[group].add((app_label or config.label, codename))
    return declared


def staff_groups_sync(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the staff groups if missing and grant the declared permissions (idempotent)."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codes in role_permissions().items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        wanted = Q(pk__in=[])
        for app_label, codename in codes:
            one = Q(content_type__app_label=app_label)
            wanted |= one if codename == ALL else one & Q(codename=codename)
        group.permissions.add(*Permission.objects.using(using).filter(wanted))


def staff_groups_sync_after_migrate(
    sender: AppConfig, apps=global_apps, using: str = DEFAULT_DB_ALIAS, **kwargs
) -> None:
    """post_migrate receiver: runs once per migrate, after the last app's permissions exist."""
    with_models = [c for c in global_apps.get_app_configs() if c.models_module is not None]
    if not with_models or sender.label != with_models[-1].label:
        return
    try:
        Permission = apps.get_model("auth", "Permission")
        apps.get_model("auth", "Group")
    except LookupError:  # migrated back past auth
        return
    if not router.allow_migrate_model(using, Permission):
        return
    staff_groups_sync(apps=apps, using=using)
