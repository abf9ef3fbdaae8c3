"""The Celery task of import jobs: takes the job's id, calls the service."""

from celery import shared_task


@shared_task(
    name="core.import_job_run", acks_late=True, soft_time_limit=55 * 60, time_limit=60 * 60
)
def import_job_run_task(job_id: int) -> str | None:
    from core.jobs.services import import_job_run

    job = import_job_run(job_id=job_id)
    return job.status if job else None
