from loyalty import services


def order_delivered(sender, order, **kwargs):
    services.loyalty_order_earn(order=order)


def order_delivery_reverted(sender, order, **kwargs):
    services.loyalty_order_reverse(order=order)
