from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"

    def ready(self):
        from customers import receivers, timeline  # noqa: F401 - timeline registers its sources
        from customers.models import Order

        post_save.connect(receivers.order_saved, sender=Order, dispatch_uid="customers_order_saved")
        post_delete.connect(
            receivers.order_deleted, sender=Order, dispatch_uid="customers_order_deleted"
        )
        from customers import dashboard  # noqa: F401  (registers the dashboard cards)
