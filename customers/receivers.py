"""The safety net for paths that save or delete an order without order_set_status (the admin
form, the shell, fixtures): each receiver calls one service."""

from customers import services, stats
from customers.signals import order_delivery_reverted


def order_saved(sender, instance, raw=False, **kwargs):
    if raw:
        return
    services.order_delivery_sync(order=instance)


def order_deleting(sender, instance, **kwargs):
    """A delivered order deleted anyway (the ORM, a script): its points go back as a return's
    would, before the row and the ledger's link to it are gone. The order is locked first and
    its flag read under the lock (the instance may be stale), then its customer: the lock order
    of every stats change."""
    locked = sender.objects.select_for_update().filter(pk=instance.pk)
    instance.stats_applied = bool(locked.values_list("stats_applied", flat=True).first())
    if instance.stats_applied:
        stats.customers_lock([instance.customer_id])
        order_delivery_reverted.send(sender=sender, order=instance)


def order_deleted(sender, instance, **kwargs):
    if instance.stats_applied:
        stats.customers_lock([instance.customer_id])
        stats.customer_stats_refresh(customer_id=instance.customer_id)
