"""An AnalyticsRun's life: the one place a run is created (``analytics_run_create``) and the one
place its status changes (``analytics_run_transition``); starting a run outside the schedule (the
admin's "Run now"), and finding a run that is still going.

The run itself is customers.analytics.run.analytics_run; it, the command, the tasks and the admin
all go through these functions.
"""

import datetime
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.utils import timezone

from customers.analytics.vocabulary import DEFAULT_MODEL, MODELS
from customers.models import AnalyticsRun

logger = logging.getLogger(__name__)

Status = AnalyticsRun.Status

# A queued or running row older than the task's hard time limit belongs to a worker that died.
ACTIVE_RUN_MAX_AGE = timedelta(minutes=35)

ACTIVE = (Status.QUEUED, Status.RUNNING)
FINISHED = (Status.SUCCEEDED, Status.FAILED)

# The moves a run's status may make. running -> running: a message delivered again after its
# worker died starts the run over. A finished run stays as it is.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.FAILED}),
    Status.RUNNING: frozenset({Status.RUNNING, Status.SUCCEEDED, Status.FAILED}),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
}


class AnalyticsRunTransitionError(ValueError):
    """The run's status may not make the move asked for."""


def analytics_run_create(
    *, as_of: datetime.date | None = None, model: str = DEFAULT_MODEL, task_id: str = ""
) -> AnalyticsRun:
    """A new queued run as of ``as_of`` (default today) with the given churn model; ``task_id``
    is the Celery id of the task that will carry it out, when known.

    Raises ValueError for an unknown model (and creates nothing).
    """
    if model not in MODELS:
        raise ValueError(f"Unknown model {model!r}; choose one of {', '.join(MODELS)}.")
    return AnalyticsRun.objects.create(
        as_of=as_of or timezone.localdate(),
        model_name=model,
        status=Status.QUEUED,
        task_id=task_id,
    )


@transaction.atomic
def analytics_run_transition(run: AnalyticsRun, *, to: str, **fields: Any) -> AnalyticsRun:
    """Move ``run`` to the status ``to`` and write ``fields`` (other AnalyticsRun fields) with it,
    in one UPDATE of those columns only. The move is checked against the status stored, read
    under a row lock, so two workers cannot both move one run. Entering running stamps
    started_at, entering succeeded or failed stamps finished_at, unless ``fields`` gives them.
    The given instance is updated to match.

    Raises AnalyticsRunTransitionError for a move TRANSITIONS does not allow (nothing is
    written), ValueError for an unknown status or field.
    """
    if to not in TRANSITIONS:
        raise ValueError(f"Unknown analytics run status {to!r}.")
    for name in fields:
        try:
            field = AnalyticsRun._meta.get_field(name)
        except FieldDoesNotExist:
            field = None
        if field is None or name in ("id", "status") or not field.concrete:
            raise ValueError(f"{name!r} cannot be written by an analytics run transition.")
    current = (
        AnalyticsRun.objects.select_for_update().values_list("status", flat=True).get(pk=run.pk)
    )
    if to not in TRANSITIONS[current]:
        raise AnalyticsRunTransitionError(
            f"Analytics run {run.pk} cannot go from {current} to {to}."
        )
    now = timezone.now()
    if to == Status.RUNNING:
        fields.setdefault("started_at", now)
    elif to in FINISHED:
        fields.setdefault("finished_at", now)
    for name, value in fields.items():
        setattr(run, name, value)
    run.status = to
    run.save(update_fields=["status", *fields])
    logger.info("Analytics run %s: %s -> %s.", run.pk, current, to)
    return run


def analytics_run_in_progress() -> AnalyticsRun | None:
    """The newest run that is queued or running and young enough to still be alive, if any."""
    return (
        AnalyticsRun.objects.filter(
            status__in=ACTIVE,
            created_at__gte=timezone.now() - ACTIVE_RUN_MAX_AGE,
        )
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def analytics_run_queue(
    *,
    as_of: datetime.date | None = None,
    model: str = DEFAULT_MODEL,
    requested_by=None,
) -> AnalyticsRun:
    """Create a queued AnalyticsRun and send the analytics chain for it (the run, then the table
    upkeep) once the transaction commits. The row carries the run task's Celery id from the
    start. Without REDIS_URL the chain runs eagerly in-process at commit, so the returned row
    may be stale: re-read it.

    Raises ValueError for an unknown model.
    """
    from customers.analytics.tasks import analytics_chain

    task_id = str(uuid.uuid4())
    run = analytics_run_create(as_of=as_of, model=model, task_id=task_id)
    logger.info("Analytics run %s queued by %s (task %s).", run.pk, requested_by or "-", task_id)
    # robust: with eager Celery a failing run must not break the caller; the row records the error.
    transaction.on_commit(
        lambda: analytics_chain(run_id=run.pk, model=model, task_id=task_id).apply_async(),
        robust=True,
    )
    return run
