"""Celery's autodiscovery imports this module: it registers the import jobs' task."""

from core.jobs.tasks import import_job_run_task  # noqa: F401
