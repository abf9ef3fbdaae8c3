from django.apps import AppConfig


class LoyaltyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "loyalty"

    def ready(self):
        from customers.signals import order_delivered, order_delivery_reverted
        from loyalty import receivers

        order_delivered.connect(receivers.order_delivered, dispatch_uid="loyalty_order_delivered")
        order_delivery_reverted.connect(
            receivers.order_delivery_reverted, dispatch_uid="loyalty_order_delivery_reverted"
        )
