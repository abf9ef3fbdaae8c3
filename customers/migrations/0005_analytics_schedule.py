"""The nightly analytics run on the beat schedule (editable in admin under Periodic tasks). The
staff groups get their permissions after migrate from core/roles.py."""

from django.db import migrations

NIGHTLY = "Customer analytics (nightly)"


def forwards(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute="30", hour="1", day_of_week="*", day_of_month="*", month_of_year="*"
    )
    PeriodicTask.objects.get_or_create(
        name=NIGHTLY,
        defaults={
            "task": "customers.analytics_run",
            "crontab": schedule,
            "description": "Scores every customer (RFM, churn risk, predicted value) as of today; "
            "each run is listed under Customers > Analytics runs.",
        },
    )


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NIGHTLY).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0004_analytics_run"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
