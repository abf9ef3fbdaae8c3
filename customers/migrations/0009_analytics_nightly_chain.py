"""The nightly schedule sends the analytics chain (the run, then the customer table's upkeep)
instead of the run alone. The entry keeps whatever time an administrator gave it."""

from django.db import migrations

NIGHTLY = "Customer analytics (nightly)"


def task_set(old, new):
    def apply(apps, schema_editor):
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        PeriodicTask.objects.filter(name=NIGHTLY, task=old).update(task=new)

    return apply


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0008_analytics_segment_counts"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.RunPython(
            task_set("customers.analytics_run", "customers.analytics_nightly"),
            task_set("customers.analytics_nightly", "customers.analytics_run"),
        )
    ]
