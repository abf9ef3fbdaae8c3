"""The staff roles, as Django groups and their permissions: one definition, applied by migrations.

An app that adds models extends ROLE_PERMISSIONS (or MANAGER_APPS) and adds a migration that
calls staff_groups_sync(apps=apps), so existing databases get the new permissions too.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

SUPPORT = (
    "customers.view_customer",
    "customers.add_customer",
    "customers.change_customer",
    "customers.view_order",
    "customers.view_note",
    "customers.add_note",
    "customers.change_note",
    "customers.view_tag",
    "customers.view_customertag",
    "customers.add_customertag",
    "customers.delete_customertag",
    "customers.view_address",
    "customers.add_address",
    "customers.change_address",
    # At the counter: see a customer's points and redeem a reward for them.
    "loyalty.view_loyaltyprogram",
    "loyalty.view_loyaltyaccount",
    "loyalty.view_loyaltytransaction",
    "loyalty.view_reward",
    "loyalty.view_redemption",
    "loyalty.add_redemption",
)
MARKETING = (
    "customers.view_customer",
    "customers.view_order",
    "customers.view_tag",
    "customers.view_note",
)

LOYALTY_MANAGERS = (
    "customers.view_customer",
    "customers.view_order",
    *(
        f"loyalty.{action}_{model}"
        for model in (
            "loyaltyprogram",
            "tier",
            "reward",
            "loyaltyaccount",
            "pointlot",
            "loyaltytransaction",
            "redemption",
        )
        for action in ("view", "add", "change", "delete")
    ),
)

ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "Support": SUPPORT,
    "Marketing": MARKETING,
    "Loyalty managers": LOYALTY_MANAGERS,
}

# Managers hold every permission of these apps, without being superusers.
MANAGERS = "Managers"
MANAGER_APPS = ("customers", "loyalty", "segments", "communications", "django_celery_beat")


def staff_groups_sync(*, apps=global_apps) -> None:
    """Create the groups if missing and grant their permissions (never revokes; idempotent)."""
    # Permissions are normally created after migrate; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    for name, codes in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        wanted = {tuple(code.split(".")) for code in codes}
        candidates = Permission.objects.filter(
            codename__in={codename for _, codename in wanted}
        ).select_related("content_type")
        group.permissions.add(
            *(p for p in candidates if (p.content_type.app_label, p.codename) in wanted)
        )
    managers, _ = Group.objects.get_or_create(name=MANAGERS)
    managers.permissions.add(*Permission.objects.filter(content_type__app_label__in=MANAGER_APPS))
