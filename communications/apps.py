from django.apps import AppConfig

from core.roles import ALL, LOYALTY_MANAGERS, MANAGERS, MARKETING, SUPPORT


class CommunicationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "communications"
    verbose_name = "Communications"
    roles = {
        # Marketing runs campaigns and templates, and reads the log to see how they went.
        MARKETING: (
            "view_template",
            "add_template",
            "change_template",
            "delete_template",
            "view_campaign",
            "add_campaign",
            "change_campaign",
            "delete_campaign",
            "view_communication",
        ),
        # Support logs contacts and handles tickets.
        SUPPORT: (
            "view_communication",
            "add_communication",
            "view_ticket",
            "add_ticket",
            "change_ticket",
            "view_template",
        ),
        LOYALTY_MANAGERS: ("view_communication",),
        MANAGERS: (ALL,),
    }

    def ready(self):
        # Importing panels registers the customer page's panels and timeline sources.
        from communications import panels, receivers  # noqa: F401

        receivers.connect()
