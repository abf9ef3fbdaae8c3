from django.apps import AppConfig
from django.core import checks

from core.roles import MANAGERS


def celery_visibility_timeout_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    """Redis gives an unacknowledged message to another worker after the visibility timeout: below
    a task's time limit, a task still running would be carried out twice at once."""
    from django.utils.module_loading import autodiscover_modules

    from crm.celery import app

    autodiscover_modules("tasks")  # what the worker registers (without Celery's own start-up)
    visibility = app.conf.broker_transport_options.get("visibility_timeout", 3600)
    too_long = sorted(
        f"{name} ({limit} s)"
        for name, task in app.tasks.items()
        if (limit := task.time_limit or app.conf.task_time_limit) and limit >= visibility
    )
    if not too_long:
        return []
    return [
        checks.Warning(
            f"CELERY_VISIBILITY_TIMEOUT ({visibility} s) is not above the time limit of "
            f"{', '.join(too_long)}: Redis would deliver such a task again while it still runs.",
            hint="Set CELERY_VISIBILITY_TIMEOUT above the longest task time limit.",
            id="crm.W001",
        )
    ]


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"
    # The nightly schedules (analytics, loyalty) are edited under Periodic tasks; a user locked
    # out by failed logins is unlocked under Access attempts (django-axes).
    roles = {MANAGERS: ("django_celery_beat.*", "axes.*")}

    def ready(self):
        checks.register(celery_visibility_timeout_check, checks.Tags.compatibility)
