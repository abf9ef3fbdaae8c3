from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_delete

from core.roles import ALL, LOYALTY_MANAGERS, MANAGERS, MARKETING, SUPPORT


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"
    roles = {
        SUPPORT: (
            "view_customer",
            "add_customer",
            "change_customer",
            "view_order",
            "view_note",
            "add_note",
            "change_note",
            "view_tag",
            "view_customertag",
            "add_customertag",
            "delete_customertag",
            "view_address",
            "add_address",
            "change_address",
        ),
        # Marketing tags customers, one by one or a segment's members at once.
        MARKETING: (
            "view_customer",
            "view_order",
            "view_tag",
            "view_note",
            "view_customertag",
            "add_customertag",
            "delete_customertag",
        ),
        LOYALTY_MANAGERS: ("view_customer", "view_order"),
        MANAGERS: (ALL,),
    }

    def ready(self):
        # Importing these registers the app's timeline sources, panels and dashboard cards.
        from customers import dashboard, receivers, timeline  # noqa: F401
        from customers.analytics import panels as analytics_panels  # noqa: F401
        from customers.models import Order

        post_save.connect(receivers.order_saved, sender=Order, dispatch_uid="customers_order_saved")
        pre_delete.connect(
            receivers.order_deleting, sender=Order, dispatch_uid="customers_order_deleting"
        )
        post_delete.connect(
            receivers.order_deleted, sender=Order, dispatch_uid="customers_order_deleted"
        )
