"""The analytics Celery tasks (customers/analytics/tasks.py): their names on the worker, the run
task, the upkeep link, the nightly task and the chain, in-process and through a real worker."""

import json
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from unittest.mock import Mock

import pytest
from celery.contrib.testing.worker import start_worker
from django.db import connection
from django.utils import timezone

from crm.celery import app
from customers.analytics import tasks as analytics_tasks
from customers.analytics.ops import analytics_run_queue
from customers.analytics.tasks import analytics_chain
from customers.analytics.tasks import analytics_nightly as analytics_nightly_task
from customers.analytics.tasks import analytics_run as analytics_run_task
from customers.analytics.tasks import analytics_upkeep as analytics_upkeep_task
from customers.models import AnalyticsRun
from customers.tests.factories import CustomerFactory, customers_with_orders

pytestmark = pytest.mark.django_db

# Beat schedules stored in the database send these names: they never change.
TASK_NAMES = {
    "customers.analytics_run": analytics_run_task,
    "customers.analytics_upkeep": analytics_upkeep_task,
    "customers.analytics_nightly": analytics_nightly_task,
}


# The names the worker knows ---------------------------------------------------------------------


def test_the_tasks_keep_their_names():
    for name, task in TASK_NAMES.items():
        registered = app.tasks[name]
        assert registered.name == task.name == name
        assert registered.run.__module__ == analytics_tasks.__name__


def test_a_worker_registers_the_tasks_through_autodiscovery():
    """What a starting worker does: Django set up, then the app's default modules imported (the
    autodiscovered customers.tasks among them), in a process that imported no task itself."""
    script = (
        "import json, django; from crm.celery import app; django.setup(); "
        "app.loader.import_default_modules(); print(json.dumps(sorted(app.tasks)))"
    )

    finished = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode == 0, finished.stderr
    registered = set(json.loads(finished.stdout.strip().splitlines()[-1]))
    assert {*TASK_NAMES, "customers.stats_reconcile"} <= registered


# The run task -----------------------------------------------------------------------------------


def test_task_does_nothing_for_a_run_that_already_succeeded():
    CustomerFactory()
    now = timezone.now()
    run = AnalyticsRun.objects.create(
        as_of=now.date(),
        status=AnalyticsRun.Status.SUCCEEDED,
        started_at=now - timedelta(seconds=12),
        finished_at=now,
        customers_scored=7,
    )
    before = AnalyticsRun.objects.get(pk=run.pk)

    result = analytics_run_task.delay(run_id=run.pk)

    assert result.get() is None
    run.refresh_from_db()
    assert run.customers_scored == 7
    assert (run.started_at, run.finished_at) == (before.started_at, before.finished_at)
    assert AnalyticsRun.objects.count() == 1


def test_task_without_a_run_starts_a_new_one_as_the_nightly_schedule_does():
    customers_with_orders(2)

    run_id = analytics_run_task.delay(as_of=timezone.localdate().isoformat()).get()

    run = AnalyticsRun.objects.get(pk=run_id)
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.model_name == "mbgnbd"
    assert run.customers_scored == 2


def test_task_carries_out_a_queued_run():
    customers_with_orders(2)
    run = AnalyticsRun.objects.create(as_of=timezone.localdate(), model_name="bgnbd")

    assert analytics_run_task.delay(run_id=run.pk).get() == run.pk

    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.progress == 100


def test_task_leaves_the_customers_to_a_run_already_going(monkeypatch):
    from customers.analytics import run as run_module

    monkeypatch.setattr(run_module, "_lock_acquire", lambda: False)
    run = AnalyticsRun.objects.create(as_of=timezone.localdate())

    assert analytics_run_task.delay(run_id=run.pk).get() is None

    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.FAILED
    assert "in progress" in run.error


# The nightly task and the chain -----------------------------------------------------------------


def test_nightly_task_sends_the_chain_run_then_upkeep():
    customers_with_orders(2)

    analytics_nightly_task.delay(model="bgnbd")

    run = AnalyticsRun.objects.get()
    assert (run.status, run.model_name, run.as_of) == ("succeeded", "bgnbd", timezone.localdate())
    assert [step for step, _ in run.steps_in_order()][-2:] == ["write", "upkeep"]


def test_chain_leaves_the_table_alone_after_a_failed_run(monkeypatch):
    from customers.analytics import run as run_module

    customers_with_orders(2)
    monkeypatch.setattr(run_module, "orders_summarise", Mock(side_effect=RuntimeError("boom")))

    with pytest.raises(RuntimeError):
        analytics_chain().apply_async()

    run = AnalyticsRun.objects.get()
    assert run.status == AnalyticsRun.Status.FAILED
    assert "upkeep" not in run.step_timings
    assert analytics_upkeep_task.delay(run.pk).get() == run.pk  # a link sent anyway: no upkeep
    run.refresh_from_db()
    assert "upkeep" not in run.step_timings


# Through a real worker --------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_queued_run_succeeds_on_a_worker_through_redis():
    customers_with_orders(3)
    app.conf.task_always_eager = False
    connection.close()  # the worker thread opens its own connection

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        run = analytics_run_queue(model="mbgnbd")
        run_id = app.AsyncResult(run.task_id).get(timeout=120)
        deadline = time.monotonic() + 60  # the chain's second link follows on the worker
        while "upkeep" not in AnalyticsRun.objects.get(pk=run.pk).step_timings:
            assert time.monotonic() < deadline, "the upkeep link did not run"
            time.sleep(0.2)

    assert run_id == run.pk
    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.customers_scored == 3
    assert run.fallback_used
    assert run.step_timings["upkeep"] >= 0
