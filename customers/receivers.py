from customers import services


def order_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    services.order_delivery_sync(order=instance)


def order_deleted(sender, instance, **kwargs):
    if instance.stats_applied:
        services.customer_stats_recompute(customer_ids=[instance.customer_id])
