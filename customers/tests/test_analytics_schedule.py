"""The nightly schedule that the migrations put on django-celery-beat (0005, then 0009)."""

import pytest
from django_celery_beat.models import PeriodicTask

from crm.celery import app

pytestmark = pytest.mark.django_db


def test_schedule_runs_the_analytics_nightly_at_half_past_one():
    app.loader.import_default_modules()  # the task modules a worker imports on start
    nightly = PeriodicTask.objects.select_related("crontab").get(
        name="Customer analytics (nightly)"
    )

    assert nightly.task == "customers.analytics_nightly"
    assert nightly.enabled
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("30", "1")
    assert nightly.task in app.tasks
