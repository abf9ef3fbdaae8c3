"""Celery tasks of the segments app. The task name is fixed: beat schedules refer to it."""

from celery import shared_task


@shared_task(name="segments.segments_refresh", soft_time_limit=15 * 60, time_limit=20 * 60)
def segments_refresh() -> dict[str, int]:
    """Count every segment's customers again (safe to run twice). Sent after each nightly
    analytics run; may also be scheduled on its own."""
    from segments.services import segments_refresh_all

    return segments_refresh_all()


@shared_task(name="segments.bulk_action_run", soft_time_limit=30 * 60, time_limit=35 * 60)
def bulk_action_run(action_id: int) -> str:
    """Do a bulk action's remaining batches; run again after an interruption, it finishes it."""
    from segments.bulk import bulk_action_run as run

    return run(action_id=action_id).status
