"""The staff roles as Django groups. Later apps add their permissions in their own migrations."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CRM_APPS = ("customers", "loyalty", "segments", "communications")

SUPPORT = [
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
]
MARKETING = [
    "customers.view_customer",
    "customers.view_order",
    "customers.view_tag",
    "customers.view_note",
]


def ensure_permissions(apps):
    # Permissions are normally created after migrate; make them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None


def create_groups(apps, schema_editor):
    ensure_permissions(apps)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")

    def permissions(codes):
        wanted = [code.split(".") for code in codes]
        found = Permission.objects.filter(
            content_type__app_label__in={app for app, _ in wanted},
            codename__in={codename for _, codename in wanted},
        )
        return [p for p in found if [p.content_type.app_label, p.codename] in wanted]

    for name, codes in (("Support", SUPPORT), ("Marketing", MARKETING)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*permissions(codes))
    Group.objects.get_or_create(name="Loyalty managers")
    managers, _ = Group.objects.get_or_create(name="Managers")
    managers.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=CRM_APPS + ("django_celery_beat",))
    )


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(
        name__in=["Support", "Marketing", "Loyalty managers", "Managers"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_trigram_search"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
