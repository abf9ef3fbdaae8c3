"""The analytics Celery tasks (customers/analytics/tasks.py): their names on the worker, the run
task, the upkeep link, the nightly task and the chain, in-process and through a real worker."""

import json
import os
import signal
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
from customers.analytics.ops import analytics_run_create, analytics_run_queue
from customers.analytics.tasks import analytics_chain
from customers.analytics.tasks import analytics_nightly as analytics_nightly_task
from customers.analytics.tasks import analytics_run as analytics_run_task
from customers.analytics.tasks import analytics_upkeep as analytics_upkeep_task
from customers.models import AnalyticsRun, Customer
from customers.tests.factories import CustomerFactory, customers_with_orders, silent_run

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
    assert run.status == AnalyticsRun.Status.SKIPPED
    assert "in progress" in run.error


def test_a_redelivered_run_for_a_date_already_scored_does_no_harm():
    """A message delivered again after its worker died at 83%: the run starts over and leaves
    the customers as one complete run left them; the earlier run of the same date is untouched."""
    customers_with_orders(3)
    as_of = timezone.localdate()
    first = analytics_run_task.delay(as_of=as_of.isoformat()).get()
    scored = list(AnalyticsRun.objects.get(pk=first).segment_counts.items())
    before = {
        customer.pk: (customer.rfm_segment, customer.churn_risk, customer.analytics_at)
        for customer in Customer.objects.all()
    }
    interrupted = silent_run(
        minutes=30,
        as_of=as_of,
        current_step="write",
        step_timings={"aggregate": 0.1, "reconcile": 0.1, "rfm": 0.1, "churn": 0.1, "spend": 0.1},
    )

    assert analytics_run_task.delay(run_id=interrupted.pk).get() == interrupted.pk
    assert analytics_run_task.delay(run_id=interrupted.pk).get() is None  # and once more

    interrupted.refresh_from_db()
    assert (interrupted.status, interrupted.progress, interrupted.error) == ("succeeded", 100, "")
    assert list(interrupted.segment_counts.items()) == scored
    after = {
        customer.pk: (customer.rfm_segment, customer.churn_risk, customer.analytics_at)
        for customer in Customer.objects.all()
    }
    assert after == before  # nothing rewritten: the scores were already these
    assert AnalyticsRun.objects.get(pk=first).status == AnalyticsRun.Status.SUCCEEDED
    assert AnalyticsRun.objects.count() == 2


def test_a_skipped_run_is_not_carried_out_when_its_message_comes_again():
    customers_with_orders(2)
    skipped = AnalyticsRun.objects.create(
        as_of=timezone.localdate(), status=AnalyticsRun.Status.SKIPPED
    )

    assert analytics_run_task.delay(run_id=skipped.pk).get() is None

    assert AnalyticsRun.objects.get(pk=skipped.pk).status == AnalyticsRun.Status.SKIPPED


def test_nightly_task_is_not_held_up_by_an_abandoned_run(settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    customers_with_orders(2)
    dead = silent_run(minutes=30)

    analytics_nightly_task.delay()

    new = AnalyticsRun.objects.exclude(pk=dead.pk).get()
    assert new.status == AnalyticsRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == AnalyticsRun.Status.FAILED and "Abandoned" in dead.error


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


# A worker killed in the middle of a run -----------------------------------------------------------

# A worker in its own process, on the test database, consuming only the test's queue, with the
# broker's keys under the test's own prefix (its unacknowledged messages are the test's alone).
# With CRM_TEST_BLOCK set, the first run to reach the reconcile step writes the process id to
# the marker file and waits there: the test kills the process in the middle of the run.
WORKER = """
import os, sys, threading
from pathlib import Path

from django.conf import settings

settings.DATABASES["default"]["NAME"] = os.environ["CRM_TEST_DATABASE"]
import django

django.setup()
from crm.celery import app
from customers.analytics import run as run_module

marker = Path(os.environ["CRM_TEST_MARKER"])
if os.environ.get("CRM_TEST_BLOCK"):
    reconcile = run_module.stats_reconcile

    def stats_reconcile():
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            threading.Event().wait(120)  # the test kills this process within seconds
        return reconcile()

    run_module.stats_reconcile = stats_reconcile
app.conf.broker_transport_options = {
    **app.conf.broker_transport_options,
    "global_keyprefix": os.environ["CRM_TEST_PREFIX"],
}
app.worker_main(["worker", "-Q", os.environ["CRM_TEST_QUEUE"], "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "--loglevel=INFO", *sys.argv[1:]])
"""


class KilledWorkerScenario:
    """Workers started as separate processes, a run task sent to them through Redis, and a wait
    for what the run's row says, every wait bounded."""

    def __init__(self, tmp_path, visibility_timeout: int):
        import uuid

        self.tag = uuid.uuid4().hex[:12]
        self.queue = f"crm-test-{self.tag}"
        self.prefix = f"crm-test-{self.tag}:"
        self.marker = tmp_path / "blocked"
        self.logs = tmp_path
        self.visibility_timeout = visibility_timeout
        self.workers: list[subprocess.Popen] = []

    def start_worker(self, *args: str, block: bool) -> subprocess.Popen:
        env = {
            **os.environ,
            "CRM_TEST_DATABASE": connection.settings_dict["NAME"],
            "CRM_TEST_MARKER": str(self.marker),
            "CRM_TEST_QUEUE": self.queue,
            "CRM_TEST_PREFIX": self.prefix,
            "CELERY_VISIBILITY_TIMEOUT": str(self.visibility_timeout),
        }
        env.pop("CRM_TEST_BLOCK", None)
        if block:
            env["CRM_TEST_BLOCK"] = "1"
        log = (self.logs / f"worker-{len(self.workers)}.log").open("w")
        worker = subprocess.Popen(  # noqa: S603 - our own worker, fixed arguments
            [sys.executable, "-c", WORKER, *args],
            cwd=Path(__file__).resolve().parents[2],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(worker)
        return worker

    def send(self, run: AnalyticsRun) -> None:
        with app.connection_for_write(transport_options={"global_keyprefix": self.prefix}) as conn:
            app.amqp.queues[self.queue].bind(conn.default_channel).declare()
            analytics_run_task.apply_async(
                kwargs={"run_id": run.pk}, queue=self.queue, connection=conn
            )

    def wait_for(self, what: str, ready, seconds: float):
        deadline = time.monotonic() + seconds
        while not (result := ready()):
            if time.monotonic() > deadline:
                logs = "\n".join(path.read_text()[-3000:] for path in self.logs.glob("*.log"))
                pytest.fail(f"Timed out waiting for {what}.\n{logs}")
            time.sleep(0.1)
        return result

    def blocked_pid(self) -> int:
        return self.wait_for(
            "the run to reach its reconcile step",
            lambda: self.marker.exists() and self.marker.read_text().strip(),
            seconds=60,
        )

    def stop(self) -> None:
        import redis

        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
                try:
                    worker.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait(timeout=10)
        client = redis.Redis.from_url(app.conf.broker_url)
        keys = list(client.scan_iter(match=f"{self.prefix}*"))
        keys += list(client.scan_iter(match=f"*{self.queue}*"))
        if keys:
            client.delete(*keys)


@pytest.fixture
def killed_worker(tmp_path):
    app.conf.task_always_eager = False
    connection.close()  # the workers are other processes; keep no transaction open beside them
    scenario = KilledWorkerScenario(tmp_path, visibility_timeout=2)
    yield scenario
    scenario.stop()


def assert_interrupted_in_the_middle(run: AnalyticsRun) -> None:
    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.RUNNING
    assert run.current_step == "reconcile"
    assert 0 < run.progress < 100
    assert run.heartbeat_at is not None


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_worker_was_killed_is_delivered_again_to_the_next_worker(killed_worker):
    """kill -9 of the whole worker: the message stays unacknowledged in Redis; a worker started
    afterwards gets it again once the visibility timeout has passed, and the run succeeds."""
    customers_with_orders(3)
    run = analytics_run_create()
    first = killed_worker.start_worker("--pool=solo", block=True)
    killed_worker.send(run)

    pid = int(killed_worker.blocked_pid())
    assert pid == first.pid
    assert_interrupted_in_the_middle(run)
    first.kill()  # SIGKILL: no warm shutdown, no acknowledgement, no rollback by the worker
    first.wait(timeout=10)
    time.sleep(killed_worker.visibility_timeout)  # the message's visibility timeout runs out

    killed_worker.start_worker("--pool=solo", block=False)
    killed_worker.wait_for(
        "the run to succeed on the second worker",
        lambda: AnalyticsRun.objects.get(pk=run.pk).status == AnalyticsRun.Status.SUCCEEDED,
        seconds=90,
    )

    run.refresh_from_db()
    assert (run.progress, run.error, run.customers_scored) == (100, "", 3)
    assert AnalyticsRun.objects.count() == 1  # the same run carried out, not a second one


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_whose_pool_process_was_killed_is_given_to_its_replacement(killed_worker):
    """kill -9 of the process carrying out the task: the worker rejects the message back to the
    queue (task_reject_on_worker_lost) instead of acknowledging it as failed, and the pool's
    new process carries the run out."""
    customers_with_orders(3)
    run = analytics_run_create()
    worker = killed_worker.start_worker("--pool=prefork", "--concurrency=1", block=True)
    killed_worker.send(run)

    pid = int(killed_worker.blocked_pid())
    assert pid != worker.pid  # a pool process, not the worker's main process
    assert_interrupted_in_the_middle(run)
    os.kill(pid, signal.SIGKILL)

    killed_worker.wait_for(
        "the run to succeed in the pool's new process",
        lambda: AnalyticsRun.objects.get(pk=run.pk).status == AnalyticsRun.Status.SUCCEEDED,
        seconds=90,
    )

    run.refresh_from_db()
    assert (run.progress, run.error, run.customers_scored) == (100, "", 3)
    assert AnalyticsRun.objects.count() == 1
