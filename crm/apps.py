from django.apps import AppConfig

from core.roles import MANAGERS


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = "CRM"
    # The nightly schedules (analytics, loyalty) are edited under Periodic tasks.
    roles = {MANAGERS: ("django_celery_beat.*",)}
