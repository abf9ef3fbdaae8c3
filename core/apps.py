from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    """What every app shares and no app owns: registries, roles, visibility, helpers, errors."""

    name = "core"

    def ready(self):
        from core.roles import staff_groups_sync_after_migrate

        post_migrate.connect(
            staff_groups_sync_after_migrate, dispatch_uid="core_staff_groups_sync_after_migrate"
        )
