"""Starting the nightly analytics run outside the schedule (the admin's "Run now"), and finding a
run that is still going. The run itself is customers.analytics.run.analytics_run."""

import datetime
import logging
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from customers.models import AnalyticsRun

logger = logging.getLogger(__name__)

# A queued or running row older than the task's hard time limit belongs to a worker that died.
ACTIVE_RUN_MAX_AGE = timedelta(minutes=35)


def analytics_run_in_progress() -> AnalyticsRun | None:
    """The newest run that is queued or running and young enough to still be alive, if any."""
    return (
        AnalyticsRun.objects.filter(
            status__in=(AnalyticsRun.Status.QUEUED, AnalyticsRun.Status.RUNNING),
            created_at__gte=timezone.now() - ACTIVE_RUN_MAX_AGE,
        )
        .order_by("-created_at", "-id")
        .first()
    )


@transaction.atomic
def analytics_run_queue(
    *,
    as_of: datetime.date | None = None,
    model: str = AnalyticsRun.Model.MBGNBD,
    requested_by=None,
) -> AnalyticsRun:
    """Create a queued AnalyticsRun and send the analytics chain for it (the run, then the table
    upkeep) once the transaction commits. The row carries the run task's Celery id from the
    start. Without REDIS_URL the chain runs eagerly in-process at commit, so the returned row
    may be stale: re-read it.

    Raises ValueError for an unknown model.
    """
    from customers.tasks import analytics_chain

    if model not in AnalyticsRun.Model.values:
        raise ValueError(
            f"Unknown model {model!r}; choose one of {', '.join(AnalyticsRun.Model.values)}."
        )
    task_id = str(uuid.uuid4())
    run = AnalyticsRun.objects.create(
        as_of=as_of or timezone.localdate(),
        model_name=model,
        status=AnalyticsRun.Status.QUEUED,
        task_id=task_id,
    )
    logger.info("Analytics run %s queued by %s (task %s).", run.pk, requested_by or "-", task_id)
    # robust: with eager Celery a failing run must not break the caller; the row records the error.
    transaction.on_commit(
        lambda: analytics_chain(run_id=run.pk, model=model, task_id=task_id).apply_async(),
        robust=True,
    )
    return run
