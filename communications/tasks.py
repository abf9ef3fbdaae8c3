"""Celery tasks of communications. Task names are fixed strings: beat schedules refer to them."""

from celery import shared_task
from django.conf import settings

# How long one run of the send task sends before handing over to a new one: a campaign of a
# million messages at 100 a second takes hours, longer than any task may run.
SLICE_SECONDS = 10 * 60


@shared_task(
    name="communications.campaign_send",
    bind=True,
    soft_time_limit=50 * 60,
    time_limit=55 * 60,
)
def campaign_send(self, campaign_id: int) -> dict:
    """Start the campaign (once) and send its queued messages in batches. Safe to run twice:
    nothing is sent twice. A temporary error of the channel's backend retries the task with
    exponential backoff, up to CRM_CAMPAIGN_MAX_RETRIES; after the last, the messages left are
    marked failed. Messages another run is sending now are looked at again later."""
    from communications.campaigns import campaign_give_up, campaign_send_batches

    outcome = campaign_send_batches(campaign_id=campaign_id, seconds=SLICE_SECONDS)
    retries = self.request.retries
    if outcome.more:
        # A long send goes on in a fresh task, well within the time limits of each.
        campaign_send.delay(campaign_id)
        return _report(outcome)
    if outcome.temporary:
        if retries >= settings.CRM_CAMPAIGN_MAX_RETRIES:
            campaign_give_up(
                campaign_id=campaign_id,
                error=f"Still failing after {retries} retries: {outcome.temporary_error}",
            )
            return _report(outcome)
        if self.request.is_eager:
            # Without a broker (make run, the tests) the retry runs at once, in this process.
            return self.apply(args=[campaign_id], retries=retries + 1).result
        raise self.retry(
            countdown=retry_countdown(retries), max_retries=settings.CRM_CAMPAIGN_MAX_RETRIES
        )
    if outcome.in_flight and not outcome.finished and not self.request.is_eager:
        # Another run holds claims: come back once they are recorded, or old enough to be
        # known interrupted.
        raise self.retry(
            countdown=settings.CRM_CAMPAIGN_CLAIM_TIMEOUT,
            max_retries=settings.CRM_CAMPAIGN_MAX_RETRIES,
        )
    return _report(outcome)


def retry_countdown(retries: int) -> int:
    """Seconds before the next try after ``retries`` retries: the backoff, doubling each time."""
    return settings.CRM_CAMPAIGN_RETRY_BACKOFF * 2**retries


def _report(outcome) -> dict:
    return {
        "sent": outcome.sent,
        "failed": outcome.failed,
        "interrupted": outcome.interrupted,
        "batches": outcome.batches,
        "finished": outcome.finished,
        "stopped": outcome.stopped,
    }


@shared_task(name="communications.campaigns_dispatch_due", soft_time_limit=60, time_limit=90)
def campaigns_dispatch_due() -> list[int]:
    """Start the scheduled campaigns whose time has come (every minute, on the beat)."""
    from communications.campaigns import campaigns_dispatch_due as dispatch

    return dispatch()
