from celery import shared_task


@shared_task(name="loyalty.nightly", soft_time_limit=60 * 60, time_limit=65 * 60)
def loyalty_nightly() -> dict:
    """Release pending points, expire old ones, recompute tiers. Safe to run twice."""
    from loyalty.services import loyalty_nightly as run

    return run()


@shared_task(name="loyalty.catch_up", soft_time_limit=60 * 60, time_limit=65 * 60)
def loyalty_catch_up(customer_ids: list[int] | None = None) -> int:
    """Award points that bulk-inserted delivered orders should have earned. Idempotent."""
    from loyalty.services import loyalty_catch_up as run

    return run(customer_ids=customer_ids)
