"""The staff roles as Django groups (defined in customers/roles.py)."""

from django.db import migrations

from customers.roles import MANAGERS, ROLE_PERMISSIONS, staff_groups_sync


def create_groups(apps, schema_editor):
    staff_groups_sync(apps=apps)


def remove_groups(apps, schema_editor):
    names = [*ROLE_PERMISSIONS, MANAGERS]
    apps.get_model("auth", "Group").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0002_trigram_search"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_groups, remove_groups)]
