"""The customers app's Celery tasks. Celery's autodiscovery imports this module, so the nightly
analytics tasks (customers/analytics/tasks.py) are imported here too and the worker registers
them under their fixed names."""

from celery import shared_task

from customers.analytics.tasks import (  # noqa: F401 - registers the analytics tasks
    analytics_chain,
    analytics_nightly,
    analytics_run,
    analytics_upkeep,
)


@shared_task(name="customers.stats_reconcile", soft_time_limit=30 * 60, time_limit=35 * 60)
def customer_stats_reconcile(customer_ids: list[int] | None = None) -> int:
    """Bring stored customer stats back in line with delivered orders; returns the drift fixed."""
    from customers.stats import customer_stats_recompute

    return customer_stats_recompute(customer_ids=customer_ids)
