"""The nightly analytics as Celery tasks: a chain of the run, then the customer table's upkeep.

The task names are fixed: beat schedules stored in the database refer to them. The worker finds
these tasks through ``customers.tasks``, which Celery's autodiscovery imports.
"""

import datetime
import logging

from celery import chain, shared_task

from customers.analytics.ops import FINISHED
from customers.analytics.vocabulary import DEFAULT_MODEL
from customers.models import AnalyticsRun

logger = logging.getLogger(__name__)


@shared_task(name="customers.analytics_run", soft_time_limit=30 * 60, time_limit=35 * 60)
def analytics_run(
    run_id: int | None = None, as_of: str | None = None, model: str = DEFAULT_MODEL
) -> int | None:
    """Score every customer (RFM, churn risk, predicted value). With run_id, carry out that queued
    AnalyticsRun, or do nothing if it has already finished; without, start a new run (the nightly
    schedule). Returns the run's id, or None when there was nothing to do."""
    # The run (numpy, scipy) is imported by the worker that carries it out, not by every sender.
    from customers.analytics.run import AnalyticsAlreadyRunning
    from customers.analytics.run import analytics_run as run_analytics

    try:
        if run_id is None:
            run = run_analytics(
                as_of=datetime.date.fromisoformat(as_of) if as_of else None, model=model
            )
        else:
            run = AnalyticsRun.objects.filter(pk=run_id).first()
            if run is None or run.status in FINISHED:
                # A redelivered or repeated message: the run it names is gone or already done.
                logger.info("Analytics run %s is missing or finished; nothing to do.", run_id)
                return None
            run = run_analytics(as_of=run.as_of, model=run.model_name, run=run)
    except AnalyticsAlreadyRunning as error:
        # Not a failure of this job: the other run scores the customers; its row says so.
        logger.warning("Analytics run not started: %s", error)
        return None
    return run.pk


@shared_task(name="customers.analytics_upkeep", soft_time_limit=30 * 60, time_limit=35 * 60)
def analytics_upkeep(run_id: int | None) -> int | None:
    """The second link of the analytics chain: table upkeep after the run whose id the first
    link returned (None when it did not run)."""
    from customers.analytics.run import analytics_upkeep as upkeep

    run = AnalyticsRun.objects.filter(pk=run_id).first() if run_id is not None else None
    if run is None:
        return None
    upkeep(run)
    return run.pk


def analytics_chain(*, run_id: int | None = None, model: str = DEFAULT_MODEL, task_id: str = ""):
    """The run, then the upkeep: the nightly job and "Run now" both send this chain. The first
    link's Celery id may be chosen (the queued run's row carries it)."""
    first = analytics_run.si(run_id=run_id, model=model)
    if task_id:
        first = first.set(task_id=task_id)
    return chain(first, analytics_upkeep.s())


@shared_task(name="customers.analytics_nightly")
def analytics_nightly(model: str = DEFAULT_MODEL) -> str:
    """The nightly schedule's task: sends the analytics chain for today; returns its id."""
    return analytics_chain(model=model).apply_async().id
