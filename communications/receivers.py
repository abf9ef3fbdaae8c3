"""Receivers of other apps' signals; connected in CommunicationsConfig.ready()."""

from communications import attribution


def order_delivered(sender, order, **kwargs):
    attribution.order_attribute(order=order)


def orders_bulk_changed(sender, customer_ids=None, **kwargs):
    attribution.orders_attribute(customer_ids=customer_ids)


def connect() -> None:
    """Connect the receivers (called once from CommunicationsConfig.ready)."""
    from customers.signals import order_delivered as delivered
    from customers.signals import orders_bulk_changed as bulk

    delivered.connect(order_delivered, dispatch_uid="communications_order_delivered")
    bulk.connect(orders_bulk_changed, dispatch_uid="communications_orders_bulk_changed")
