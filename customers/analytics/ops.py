"""An AnalyticsRun's life: the one place a run is created (``analytics_run_create``) and the one
place its status changes (``analytics_run_transition``); its signs of life
(``analytics_run_heartbeat``) and the rule that tells a run whose worker died
(``analytics_run_abandoned``); starting a run outside the schedule (the admin's "Run now"), and
finding a run that is still going.

The run itself is customers.analytics.run.analytics_run; it, the command, the tasks and the admin
all go through these functions.
"""

import datetime
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from customers.analytics.vocabulary import DEFAULT_MODEL, MODELS
from customers.models import AnalyticsRun

logger = logging.getLogger(__name__)

Status = AnalyticsRun.Status

ACTIVE = (Status.QUEUED, Status.RUNNING)
FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED)

# The moves a run's status may make. queued -> skipped: another run held the lock, nothing was
# written. running -> running: a message delivered again after its worker died starts the run
# over. A finished run stays as it is.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.QUEUED: frozenset({Status.RUNNING, Status.FAILED, Status.SKIPPED}),
    Status.RUNNING: frozenset({Status.RUNNING, Status.SUCCEEDED, Status.FAILED}),
    Status.SUCCEEDED: frozenset(),
    Status.FAILED: frozenset(),
    Status.SKIPPED: frozenset(),
}

# A run's last sign of life: its newest heartbeat, else its start, else its creation (queued).
LAST_SIGN_OF_LIFE = Coalesce(F("heartbeat_at"), F("started_at"), F("created_at"))


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
        fields.setdefault("heartbeat_at", fields["started_at"])
    elif to in FINISHED:
        fields.setdefault("finished_at", now)
    for name, value in fields.items():
        setattr(run, name, value)
    run.status = to
    run.save(update_fields=["status", *fields])
    logger.info("Analytics run %s: %s -> %s.", run.pk, current, to)
    return run


# Signs of life ----------------------------------------------------------------------------------


def heartbeat_timeout() -> timedelta:
    """How long a queued or running run may stay silent before it counts as abandoned."""
    return timedelta(seconds=settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT)


def analytics_run_heartbeat(run: AnalyticsRun, **fields: Any) -> bool:
    """Record that ``run`` is alive now, with ``fields`` (its current step, progress, timings) in
    the same UPDATE. Only a running run is touched: a run already finished (failed as abandoned,
    say) is not revived. Returns whether the run was still running."""
    fields["heartbeat_at"] = timezone.now()
    updated = AnalyticsRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(**fields)
    for name, value in fields.items():
        setattr(run, name, value)
    return bool(updated)


def analytics_run_last_sign_of_life(run: AnalyticsRun) -> datetime.datetime:
    return run.heartbeat_at or run.started_at or run.created_at


def analytics_run_abandoned(run: AnalyticsRun, *, now: datetime.datetime | None = None) -> bool:
    """Whether ``run`` is queued or running on record but has shown no sign of life for longer
    than CRM_ANALYTICS_HEARTBEAT_TIMEOUT: its worker died (or, queued, no worker took it up).
    An abandoned run holds up no new run."""
    if run.status not in ACTIVE:
        return False
    now = now or timezone.now()
    return analytics_run_last_sign_of_life(run) < now - heartbeat_timeout()


def _alive_since(now: datetime.datetime) -> Q:
    return Q(status__in=ACTIVE, last_sign_of_life__gte=now - heartbeat_timeout())


def analytics_run_in_progress() -> AnalyticsRun | None:
    """The newest run that is queued or running and still shows signs of life, if any."""
    return (
        AnalyticsRun.objects.alias(last_sign_of_life=LAST_SIGN_OF_LIFE)
        .filter(_alive_since(timezone.now()))
        .order_by("-created_at", "-id")
        .first()
    )


def analytics_runs_abandoned_fail(*, successor: AnalyticsRun) -> list[AnalyticsRun]:
    """Fail every abandoned run other than ``successor`` (the run starting now, which holds the
    lock no living run could have let go of), with an error that says so. Returns them."""
    now = timezone.now()
    abandoned = list(
        AnalyticsRun.objects.alias(last_sign_of_life=LAST_SIGN_OF_LIFE)
        .filter(status__in=ACTIVE, last_sign_of_life__lt=now - heartbeat_timeout())
        .exclude(pk=successor.pk)
        .order_by("id")
    )
    failed = []
    for run in abandoned:
        silent_since = timezone.localtime(analytics_run_last_sign_of_life(run))
        why = "its worker stopped" if run.status == Status.RUNNING else "no worker took it up"
        error = (
            f"Abandoned: no sign of life since {silent_since:%Y-%m-%d %H:%M:%S %Z} ({why}); "
            f"run {successor.pk} took over."
        )
        try:
            failed.append(analytics_run_transition(run, to=Status.FAILED, error=error))
        except AnalyticsRunTransitionError:
            continue  # it finished on its own meanwhile
        logger.warning("Analytics run %s: %s", run.pk, error)
    return failed


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
