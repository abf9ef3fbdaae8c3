"""An analytics run's life (customers/analytics/ops.py): creating a run, moving its status, and
queueing a run outside the schedule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.analytics.ops import (
    TRANSITIONS,
    AnalyticsRunTransitionError,
    analytics_run_create,
    analytics_run_in_progress,
    analytics_run_queue,
    analytics_run_transition,
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
