"""An analytics run's life (customers/analytics/ops.py): creating a run, moving its status, and
queueing a run outside the schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.analytics.ops import (
    TRANSITIONS,
    AnalyticsRunTransitionError,
    analytics_run_abandoned,
    analytics_run_create,
    analytics_run_heartbeat,
    analytics_run_in_progress,
    analytics_run_queue,
    analytics_run_transition,
    analytics_runs_abandoned_fail,
)
from customers.models import AnalyticsRun
from customers.tests.factories import customers_with_orders

pytestmark = pytest.mark.django_db

Status = AnalyticsRun.Status


def run_in(status: str) -> AnalyticsRun:
    return AnalyticsRun.objects.create(as_of=timezone.localdate(), status=status)


# Creating a run ---------------------------------------------------------------------------------


def test_create_makes_a_queued_run_for_today_with_the_default_model():
    run = analytics_run_create()

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.status, stored.as_of, stored.model_name) == (
        Status.QUEUED,
        timezone.localdate(),
        "mbgnbd",
    )
    assert stored.task_id == ""


def test_create_keeps_the_date_model_and_task_id_given():
    as_of = timezone.localdate() - timedelta(days=3)

    run = analytics_run_create(as_of=as_of, model="bgnbd", task_id="task-1")

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.as_of, stored.model_name, stored.task_id) == (as_of, "bgnbd", "task-1")


def test_create_refuses_an_unknown_model():
    with pytest.raises(ValueError, match=r"Unknown model 'pareto'; choose one of mbgnbd, bgnbd"):
        analytics_run_create(model="pareto")

    assert not AnalyticsRun.objects.exists()


# Moving a run's status --------------------------------------------------------------------------


def test_start_stamps_the_start_and_writes_the_fields_given():
    run = analytics_run_create()

    analytics_run_transition(run, to=Status.RUNNING, progress=0, error="")

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert stored.status == run.status == Status.RUNNING
    assert stored.started_at is not None and stored.started_at == run.started_at
    assert stored.finished_at is None


@pytest.mark.parametrize("finish", [Status.SUCCEEDED, Status.FAILED])
def test_finish_stamps_the_end(finish):
    run = run_in(Status.RUNNING)

    analytics_run_transition(run, to=finish, customers_scored=12, error="")

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.status, stored.customers_scored) == (finish, 12)
    assert stored.finished_at is not None


def test_a_queued_run_may_fail_before_it_starts():
    run = analytics_run_create()

    analytics_run_transition(run, to=Status.FAILED, error="Another analytics run is in progress.")

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.status, stored.error) == (Status.FAILED, "Another analytics run is in progress.")


def test_a_running_run_may_start_over():
    """A message delivered again after its worker died starts the run over."""
    run = run_in(Status.RUNNING)

    analytics_run_transition(run, to=Status.RUNNING, progress=0)

    assert AnalyticsRun.objects.get(pk=run.pk).status == Status.RUNNING


def test_only_the_fields_given_are_written():
    run = analytics_run_create()
    run.customers_scored = 99  # changed on the instance, not handed to the transition

    analytics_run_transition(run, to=Status.RUNNING, progress=5)

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.progress, stored.customers_scored) == (5, 0)


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (Status.QUEUED, Status.SUCCEEDED),
        (Status.QUEUED, Status.QUEUED),
        (Status.RUNNING, Status.QUEUED),
        (Status.SUCCEEDED, Status.RUNNING),
        (Status.SUCCEEDED, Status.FAILED),
        (Status.FAILED, Status.RUNNING),
        (Status.FAILED, Status.SUCCEEDED),
    ],
)
def test_an_illegal_move_is_refused_and_writes_nothing(current, to):
    run = run_in(current)

    with pytest.raises(AnalyticsRunTransitionError, match=f"cannot go from {current} to {to}"):
        analytics_run_transition(run, to=to, customers_scored=5)

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.status, stored.customers_scored) == (current, 0)
    assert (stored.started_at, stored.finished_at) == (None, None)


def test_the_move_is_checked_against_the_stored_status():
    run = analytics_run_create()
    AnalyticsRun.objects.filter(pk=run.pk).update(status=Status.SUCCEEDED)  # elsewhere

    with pytest.raises(AnalyticsRunTransitionError, match="from succeeded to running"):
        analytics_run_transition(run, to=Status.RUNNING)

    assert AnalyticsRun.objects.get(pk=run.pk).status == Status.SUCCEEDED


def test_every_status_has_its_moves():
    assert set(TRANSITIONS) == set(Status.values)
    assert all(set(moves) <= set(Status.values) for moves in TRANSITIONS.values())


@pytest.mark.parametrize("field", ["status", "id", "colour"])
def test_a_transition_writes_only_real_fields_other_than_the_status(field):
    run = analytics_run_create()

    with pytest.raises(ValueError, match=f"'{field}' cannot be written"):
        analytics_run_transition(run, to=Status.RUNNING, **{field: "x"})

    assert AnalyticsRun.objects.get(pk=run.pk).status == Status.QUEUED


def test_an_unknown_status_is_refused():
    run = analytics_run_create()

    with pytest.raises(ValueError, match="Unknown analytics run status 'paused'"):
        analytics_run_transition(run, to="paused")


# A run in progress ------------------------------------------------------------------------------


def test_in_progress_is_the_newest_queued_or_running_run():
    run_in(Status.SUCCEEDED)
    older = run_in(Status.RUNNING)
    newer = analytics_run_create()

    assert analytics_run_in_progress() == newer
    AnalyticsRun.objects.filter(pk=newer.pk).update(status=Status.FAILED)
    assert analytics_run_in_progress() == older


def test_a_run_older_than_the_time_limit_is_not_in_progress():
    stale = run_in(Status.RUNNING)
    AnalyticsRun.objects.filter(pk=stale.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert analytics_run_in_progress() is None


# Queueing a run ---------------------------------------------------------------------------------


def test_queue_creates_a_queued_run_that_runs_at_commit(django_capture_on_commit_callbacks):
    customers_with_orders(2)

    with django_capture_on_commit_callbacks() as callbacks:
        run = analytics_run_queue(model="bgnbd")
        queued = AnalyticsRun.objects.get(pk=run.pk)
        assert queued.status == AnalyticsRun.Status.QUEUED
        assert queued.task_id
    assert len(callbacks) == 1
    callbacks[0]()

    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.model_name == "bgnbd"
    assert run.customers_with_orders == 2
    assert run.task_id == queued.task_id
    assert "upkeep" in run.step_timings  # the chain's second link ran after the run


def test_queue_refuses_an_unknown_model(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(ValueError, match="Unknown model 'pareto'"),
    ):
        analytics_run_queue(model="pareto")

    assert callbacks == []
    assert not AnalyticsRun.objects.exists()


# Skipped: refused because another run holds the lock --------------------------------------------


def test_a_queued_run_may_be_skipped_and_is_then_finished():
    run = analytics_run_create()

    analytics_run_transition(run, to=Status.SKIPPED, error="Another analytics run is in progress.")

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.status, stored.error) == (
        Status.SKIPPED,
        "Another analytics run is in progress.",
    )
    assert stored.finished_at is not None
    assert analytics_run_in_progress() is None


@pytest.mark.parametrize("current", [Status.RUNNING, Status.SUCCEEDED, Status.FAILED])
def test_only_a_queued_run_may_be_skipped(current):
    run = run_in(current)

    with pytest.raises(AnalyticsRunTransitionError, match=f"from {current} to skipped"):
        analytics_run_transition(run, to=Status.SKIPPED)


@pytest.mark.parametrize("to", [Status.QUEUED, Status.RUNNING, Status.SUCCEEDED, Status.FAILED])
def test_a_skipped_run_stays_as_it_is(to):
    run = run_in(Status.SKIPPED)

    with pytest.raises(AnalyticsRunTransitionError, match=f"from skipped to {to}"):
        analytics_run_transition(run, to=to)


# The heartbeat and abandoned runs ---------------------------------------------------------------


def test_starting_a_run_records_its_first_heartbeat():
    run = analytics_run_create()

    analytics_run_transition(run, to=Status.RUNNING)

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert stored.heartbeat_at is not None
    assert stored.heartbeat_at == stored.started_at


def test_a_heartbeat_records_the_step_and_progress():
    run = run_in(Status.RUNNING)

    assert analytics_run_heartbeat(run, current_step="churn", progress=50)

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.current_step, stored.progress) == ("churn", 50)
    assert timezone.now() - stored.heartbeat_at < timedelta(seconds=5)
    assert stored.heartbeat_at == run.heartbeat_at


def test_a_heartbeat_does_not_revive_a_finished_run():
    run = run_in(Status.FAILED)

    assert not analytics_run_heartbeat(run, current_step="write")

    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert (stored.status, stored.current_step, stored.heartbeat_at) == (Status.FAILED, "", None)


def silent_for(run: AnalyticsRun, delta: timedelta) -> AnalyticsRun:
    """The run's last sign of life ``delta`` ago."""
    then = timezone.now() - delta
    AnalyticsRun.objects.filter(pk=run.pk).update(
        created_at=then, started_at=then if run.status != Status.QUEUED else None, heartbeat_at=then
    )
    return AnalyticsRun.objects.get(pk=run.pk)


@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING])
def test_a_run_silent_longer_than_the_heartbeat_timeout_is_abandoned(settings, status):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    fresh = silent_for(run_in(status), timedelta(minutes=4))
    silent = silent_for(run_in(status), timedelta(minutes=6))

    assert not analytics_run_abandoned(fresh)
    assert analytics_run_abandoned(silent)


def test_a_running_run_without_a_heartbeat_counts_from_its_start(settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    run = run_in(Status.RUNNING)
    AnalyticsRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - timedelta(minutes=10), heartbeat_at=None
    )

    assert analytics_run_abandoned(AnalyticsRun.objects.get(pk=run.pk))


@pytest.mark.parametrize("status", [Status.SUCCEEDED, Status.FAILED, Status.SKIPPED])
def test_a_finished_run_is_never_abandoned(status):
    run = silent_for(run_in(status), timedelta(days=1))

    assert not analytics_run_abandoned(run)


def test_an_abandoned_run_is_not_in_progress(settings):
    """The worker died at 83%: the run stays running, but it no longer holds up a new one."""
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    dead = silent_for(run_in(Status.RUNNING), timedelta(minutes=6))
    AnalyticsRun.objects.filter(pk=dead.pk).update(progress=83)

    assert analytics_run_in_progress() is None

    alive = silent_for(run_in(Status.RUNNING), timedelta(minutes=1))
    assert analytics_run_in_progress() == alive


def test_the_heartbeat_timeout_is_a_setting(settings):
    run = silent_for(run_in(Status.RUNNING), timedelta(minutes=6))

    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 600
    assert not analytics_run_abandoned(run)
    assert analytics_run_in_progress() == run
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 120
    assert analytics_run_abandoned(run)
    assert analytics_run_in_progress() is None


def test_abandoned_runs_are_failed_with_the_reason(settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    dead = silent_for(run_in(Status.RUNNING), timedelta(minutes=6))
    never_taken = silent_for(run_in(Status.QUEUED), timedelta(minutes=20))
    alive = silent_for(run_in(Status.RUNNING), timedelta(minutes=1))
    done = silent_for(run_in(Status.SUCCEEDED), timedelta(hours=3))
    successor = analytics_run_create()

    failed = analytics_runs_abandoned_fail(successor=successor)

    assert sorted(run.pk for run in failed) == sorted([dead.pk, never_taken.pk])
    dead.refresh_from_db()
    assert dead.status == Status.FAILED
    assert dead.finished_at is not None
    assert "Abandoned" in dead.error and f"run {successor.pk}" in dead.error
    assert "no sign of life since" in dead.error
    never_taken.refresh_from_db()
    assert never_taken.status == Status.FAILED and "Abandoned" in never_taken.error
    assert AnalyticsRun.objects.get(pk=alive.pk).status == Status.RUNNING
    assert AnalyticsRun.objects.get(pk=done.pk).status == Status.SUCCEEDED
    assert AnalyticsRun.objects.get(pk=successor.pk).status == Status.QUEUED


def test_the_successor_is_never_failed_as_abandoned(settings):
    """A message delivered again after its worker died restarts the very run that went silent."""
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    restarted = silent_for(run_in(Status.RUNNING), timedelta(minutes=40))

    assert analytics_runs_abandoned_fail(successor=restarted) == []
    assert AnalyticsRun.objects.get(pk=restarted.pk).status == Status.RUNNING
