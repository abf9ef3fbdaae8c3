from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"

    def ready(self):
        # Importing these registers the app's timeline sources, panels and dashboard cards.
        from customers import analytics_panels, dashboard, receivers, timeline  # noqa: F401
        from customers.models import Order

        post_save.connect(receivers.order_saved, sender=Order, dispatch_uid="customers_order_saved")
        post_delete.connect(
            receivers.order_deleted, sender=Order, dispatch_uid="customers_order_deleted"
        )
