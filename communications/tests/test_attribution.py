"""Orders credited to the campaign whose message came last before their delivery."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from communications.attribution import campaign_results, order_attribute, orders_attribute
from communications.models import Attribution, Communication
from communications.services import communication_advance
from communications.tests.factories import CampaignFactory, CommunicationFactory
from customers import services as customer_services
from customers.models import Order
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now().replace(microsecond=0) - timedelta(days=30)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)


def sent_message(customer, campaign=None, *, sent_at=NOW, clicked_at=None):
    """A campaign's message sent at ``sent_at`` (and clicked at ``clicked_at``)."""
    message = CommunicationFactory(
        customer=customer, campaign=campaign or CampaignFactory(), queued_at=sent_at
    )
    communication_advance(communication=message, status="sent", at=sent_at)
    if clicked_at:
        communication_advance(communication=message, status="clicked", at=clicked_at)
    return message


def held_out_message(customer, campaign=None, *, queued_at=NOW):
    return CommunicationFactory(
        customer=customer,
        campaign=campaign or CampaignFactory(holdout_percent=10),
        status="held_out",
        queued_at=queued_at,
    )


def delivered(customer, at, total="80.00"):
    """An order delivered at ``at``, through the model's save as the admin saves it."""
    return OrderFactory(
        customer=customer, status="delivered", delivered_at=at, placed_at=at, total=Decimal(total)
    )


@pytest.mark.parametrize(
    ("after_send", "credited"),
    [
        (-SECOND, False),  # delivered before the message went out
        (timedelta(0), True),
        (5 * DAY - SECOND, True),
        (5 * DAY, True),  # the window's last moment
        (5 * DAY + SECOND, False),
    ],
    ids=["before the send", "at the send", "just inside", "at the boundary", "just outside"],
)
def test_an_order_is_credited_within_the_window_after_the_send(after_send, credited):
    customer = CustomerFactory()
    message = sent_message(customer)

    order = delivered(customer, NOW + after_send, total="80.00")

    attribution = Attribution.objects.filter(order=order).first()
    assert (attribution is not None) == credited
    if credited:
        assert attribution.campaign_id == message.campaign_id
        assert attribution.communication_id == message.pk
        assert (attribution.revenue, attribution.by_click, attribution.held_out) == (
            Decimal("80.00"),
            False,
            False,
        )


def test_the_window_follows_the_setting(settings):
    settings.CRM_ATTRIBUTION_DAYS = 2
    customer = CustomerFactory()
    sent_message(customer)

    inside = delivered(customer, NOW + 2 * DAY)
    outside = delivered(customer, NOW + 2 * DAY + SECOND)

    assert Attribution.objects.filter(order=inside).exists()
    assert not Attribution.objects.filter(order=outside).exists()


def test_a_click_opens_the_window_again_from_the_click():
    customer = CustomerFactory()
    sent_message(customer, sent_at=NOW, clicked_at=NOW + 3 * DAY)

    order = delivered(customer, NOW + 7 * DAY)  # 7 days after the send, 4 after the click

    attribution = Attribution.objects.get(order=order)
    assert attribution.by_click


def test_without_a_click_the_window_runs_from_the_send():
    customer = CustomerFactory()
    sent_message(customer, sent_at=NOW)

    order = delivered(customer, NOW + 7 * DAY)

    assert not Attribution.objects.filter(order=order).exists()


def test_a_click_after_the_delivery_does_not_count_for_it():
    customer = CustomerFactory()
    sent_message(customer, sent_at=NOW, clicked_at=NOW + 4 * DAY)

    order = delivered(customer, NOW + 2 * DAY)

    attribution = Attribution.objects.get(order=order)
    assert not attribution.by_click


def test_the_last_campaign_before_the_delivery_wins():
    customer = CustomerFactory()
    sent_message(customer, sent_at=NOW)
    later = sent_message(customer, sent_at=NOW + 2 * DAY)
    sent_message(customer, sent_at=NOW + 4 * DAY)  # after the delivery: not a candidate

    order = delivered(customer, NOW + 3 * DAY)

    assert Attribution.objects.get(order=order).communication_id == later.pk


def test_a_click_on_an_earlier_campaign_after_a_later_send_wins():
    customer = CustomerFactory()
    clicked = sent_message(customer, sent_at=NOW, clicked_at=NOW + 2 * DAY + timedelta(hours=12))
    sent_message(customer, sent_at=NOW + 2 * DAY)

    order = delivered(customer, NOW + 3 * DAY)

    attribution = Attribution.objects.get(order=order)
    assert (attribution.communication_id, attribution.by_click) == (clicked.pk, True)


def test_a_held_out_customer_is_measured_from_the_start_of_the_send():
    customer = CustomerFactory()
    message = held_out_message(customer, queued_at=NOW)

    inside = delivered(customer, NOW + 5 * DAY)
    outside = delivered(customer, NOW + 5 * DAY + SECOND)

    attribution = Attribution.objects.get(order=inside)
    assert (attribution.communication_id, attribution.held_out) == (message.pk, True)
    assert not Attribution.objects.filter(order=outside).exists()


def test_a_held_out_message_without_its_own_time_counts_from_the_campaigns_start():
    customer = CustomerFactory()
    campaign = CampaignFactory(holdout_percent=10, started_at=NOW)
    message = held_out_message(customer, campaign, queued_at=None)

    inside = delivered(customer, NOW + 5 * DAY)
    outside = delivered(customer, NOW + 5 * DAY + SECOND)

    assert Attribution.objects.get(order=inside).communication_id == message.pk
    assert not Attribution.objects.filter(order=outside).exists()


@pytest.mark.parametrize("status", ["failed", "skipped", "bounced"])
def test_a_message_that_did_not_reach_the_customer_earns_nothing(status):
    customer = CustomerFactory()
    message = CommunicationFactory(customer=customer, campaign=CampaignFactory(), queued_at=NOW)
    if status == "bounced":
        communication_advance(communication=message, status="sent", at=NOW)
    communication_advance(communication=message, status=status, at=NOW)

    order = delivered(customer, NOW + DAY)

    assert not Attribution.objects.filter(order=order).exists()


def test_a_logged_contact_outside_any_campaign_earns_nothing():
    customer = CustomerFactory()
    CommunicationFactory(customer=customer, status="sent", sent_at=NOW, queued_at=NOW)

    order = delivered(customer, NOW + DAY)

    assert not Attribution.objects.filter(order=order).exists()


def test_a_delivery_through_the_service_is_credited_in_the_same_transaction():
    customer = CustomerFactory()
    message = sent_message(customer, sent_at=timezone.now() - timedelta(hours=2))
    order = OrderFactory(customer=customer, total=Decimal("42.50"))

    customer_services.order_set_status(order=order, status="delivered")

    attribution = Attribution.objects.get(order=order)
    assert (attribution.campaign_id, attribution.revenue) == (message.campaign_id, Decimal("42.50"))


def test_crediting_one_order_is_one_statement_whatever_the_history(assert_queries):
    customer = CustomerFactory()
    for day in range(10):
        sent_message(customer, sent_at=NOW + day * DAY)
    order = delivered(customer, NOW + 20 * DAY)  # too late for any of them

    with assert_queries(1):
        written = order_attribute(order=order)

    assert not written


def test_a_second_delivery_keeps_the_one_attribution():
    customer = CustomerFactory()
    first = sent_message(customer, sent_at=timezone.now() - DAY)
    order = OrderFactory(customer=customer)
    customer_services.order_set_status(order=order, status="delivered")
    customer_services.order_set_status(order=order, status="returned")
    sent_message(customer, sent_at=timezone.now() - timedelta(hours=1))

    customer_services.order_set_status(order=order, status="delivered")

    credited = Attribution.objects.filter(order=order).values_list("communication", flat=True)
    assert list(credited) == [first.pk]


def test_a_returned_order_no_longer_counts_in_the_results():
    customer = CustomerFactory()
    message = sent_message(customer, sent_at=timezone.now() - DAY)
    kept = OrderFactory(customer=customer, total=Decimal("30.00"))
    returned = OrderFactory(customer=customer, total=Decimal("70.00"))
    for order in (kept, returned):
        customer_services.order_set_status(order=order, status="delivered")
    assert campaign_results(message.campaign)["revenue"] == Decimal("100.00")

    customer_services.order_set_status(order=returned, status="returned")

    results = campaign_results(message.campaign)
    assert (results["orders"], results["revenue"]) == (1, Decimal("30.00"))


def test_a_bulk_path_is_caught_up_set_based():
    customers = [CustomerFactory() for _ in range(3)]
    messages = [sent_message(customer, sent_at=NOW) for customer in customers]
    Order.objects.bulk_create(
        Order(
            customer=customer,
            number=f"BULK-{index}",
            status="delivered",
            placed_at=NOW + DAY,
            delivered_at=NOW + DAY * (index * 3 + 1),  # 1, 4 and 7 days after the send
            total=Decimal("25.00"),
        )
        for index, customer in enumerate(customers)
    )
    assert not Attribution.objects.exists()  # bulk_create skips save() and its receivers

    customer_services.orders_bulk_sync(customer_ids=[c.pk for c in customers])

    credited = Attribution.objects.order_by("order__number")
    assert [a.communication_id for a in credited] == [messages[0].pk, messages[1].pk]
    assert orders_attribute(customer_ids=None) == 0  # run again: nothing more


def test_the_catch_up_of_all_customers_leaves_credited_orders_alone():
    customer = CustomerFactory()
    sent_message(customer, sent_at=NOW)
    order = delivered(customer, NOW + DAY)
    Order.objects.filter(pk=order.pk).update(total=Decimal("999.00"))

    assert orders_attribute() == 0
    assert Attribution.objects.get(order=order).revenue == Decimal("80.00")


def test_held_out_rows_are_never_sent():
    """The control group's message is a record, not a send: it stays held out."""
    customer = CustomerFactory()
    message = held_out_message(customer)

    delivered(customer, NOW + DAY)

    message.refresh_from_db()
    assert message.status == Communication.Status.HELD_OUT
