from celery import shared_task


@shared_task(name="customers.stats_reconcile", soft_time_limit=30 * 60, time_limit=35 * 60)
def customer_stats_reconcile(customer_ids: list[int] | None = None) -> int:
    """Bring stored customer stats back in line with delivered orders; returns the drift fixed."""
    from customers.services import customer_stats_recompute

    return customer_stats_recompute(customer_ids=customer_ids)
