from django.apps import AppConfig

from core.roles import ALL, LOYALTY_MANAGERS, MANAGERS, SUPPORT


class LoyaltyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "loyalty"
    roles = {
        # At the counter: see a customer's points and redeem a reward for them.
        SUPPORT: (
            "view_loyaltyprogram",
            "view_tier",
            "view_loyaltyaccount",
            "view_loyaltytransaction",
            "view_reward",
            "view_redemption",
            "add_redemption",
        ),
        LOYALTY_MANAGERS: (ALL,),
        MANAGERS: (ALL,),
    }

    def ready(self):
        from customers.signals import order_delivered, order_delivery_reverted, orders_bulk_changed
        from loyalty import receivers

        order_delivered.connect(receivers.order_delivered, dispatch_uid="loyalty_order_delivered")
        order_delivery_reverted.connect(
            receivers.order_delivery_reverted, dispatch_uid="loyalty_order_delivery_reverted"
        )
        orders_bulk_changed.connect(
            receivers.orders_bulk_changed, dispatch_uid="loyalty_orders_bulk_changed"
        )
        from loyalty import panels  # noqa: F401 - registers the loyalty panel, timeline and card
        from loyalty.segment_fields import register_loyalty_fields

        register_loyalty_fields()  # the tier and the points balance, for segment rules
