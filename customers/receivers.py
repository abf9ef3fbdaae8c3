"""The safety net for paths that save or delete an order without order_set_status (the admin
form, the shell, fixtures): each receiver calls one service."""

from customers import services, stats


def order_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    services.order_delivery_sync(order=instance)


def order_deleted(sender, instance, **kwargs):
    if instance.stats_applied:
        stats.customers_lock([instance.customer_id])
        stats.customer_stats_refresh(customer_id=instance.customer_id)
