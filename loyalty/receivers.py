from loyalty import services


def order_delivered(sender, order, **kwargs):
    services.loyalty_order_earn(order=order)


def order_delivery_reverted(sender, order, **kwargs):
    services.loyalty_order_reverse(order=order)


def orders_bulk_changed(sender, customer_ids=None, **kwargs):
    services.loyalty_catch_up(customer_ids=customer_ids)
