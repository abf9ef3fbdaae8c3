"""Demo communications: contacts the staff logged, three campaigns sent earlier with realistic
outcomes (one with a control group, and orders it earned), and open support tickets.

Run after the customers' and the loyalty demo. Every step of a message goes through
``communication_advance`` (with the step's time in the past), so the campaigns' counters agree
with their messages. Rows no service can write with past times (a campaign that ran weeks ago,
its messages as its start created them, the tickets) are written directly, each in its own
function below, to be switched to the services when they take a time.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from communications.models import (
    Campaign,
    Channel,
    Communication,
    Direction,
    Purpose,
    SkipReason,
    Ticket,
)
from communications.services import communication_advance, communication_log
from core.roles import MANAGERS, MARKETING, SUPPORT
from customers.demo import CATALOG, DEMO_PREFIX, demo_staff_create
from customers.models import Customer, Order, OrderItem
from customers.services import orders_bulk_sync
from segments.models import Segment

Status = Communication.Status
ORDER_PREFIX = "CMP-"


@dataclass(frozen=True)
class DemoCampaign:
    name: str
    channel: str
    segment_key: str
    subject: str
    body: str
    days_ago: int
    size: int  # at most this many of the segment's customers
    holdout_percent: int = 0


CAMPAIGNS = (
    DemoCampaign(
        name="Spring newsletter",
        channel=Channel.EMAIL,
        segment_key="high-value",
        subject="New in for spring at {{ shop_name }}",
        body="Hello {{ customer.first_name }}, the spring collection is in: "
        "https://shop.example.com/spring\n\nUnsubscribe: {{ unsubscribe_url }}",
        days_ago=75,
        size=300,
    ),
    DemoCampaign(
        name="Weekend flash sale (SMS)",
        channel=Channel.SMS,
        segment_key="frequent-buyers",
        subject="",
        body="{{ shop_name }}: 20% off everything this weekend. Reply STOP to opt out.",
        days_ago=40,
        size=150,
    ),
    DemoCampaign(
        name="We miss you: 15% off",
        channel=Channel.EMAIL,
        segment_key="inactive",
        subject="{{ customer.first_name }}, 15% off to welcome you back",
        body="Hello {{ customer.first_name }}, it has been a while. Here is 15% off your next "
        "order: https://shop.example.com/welcome-back\n\nUnsubscribe: {{ unsubscribe_url }}",
        days_ago=20,
        size=1000,
        holdout_percent=10,
    ),
)

# How an email ends (the step it reaches), and its weight.
EMAIL_OUTCOMES = (
    (Status.FAILED, 2),
    (Status.BOUNCED, 3),
    (Status.SENT, 5),
    (Status.DELIVERED, 45),
    (Status.OPENED, 27),
    (Status.CLICKED, 18),
)
SMS_OUTCOMES = ((Status.FAILED, 3), (Status.SENT, 9), (Status.DELIVERED, 88))
# The chance a customer buys within the window, by how far the message took them.
BUYING = {
    Status.CLICKED: 0.35,
    Status.OPENED: 0.12,
    Status.DELIVERED: 0.06,
    Status.SENT: 0.05,
    Status.HELD_OUT: 0.06,
}

LOGGED = (
    (Channel.PHONE, Direction.INBOUND, Purpose.SUPPORT, Status.REPLIED, "Where is my parcel?"),
    (Channel.PHONE, Direction.OUTBOUND, Purpose.FOLLOW_UP, Status.DELIVERED, "Order follow-up"),
    (Channel.PHONE, Direction.OUTBOUND, Purpose.FOLLOW_UP, Status.FAILED, "No answer"),
    (Channel.IN_PERSON, Direction.INBOUND, Purpose.SUPPORT, Status.DELIVERED, "Returned a size"),
    (Channel.IN_PERSON, Direction.OUTBOUND, Purpose.MARKETING, Status.DELIVERED, "Tried samples"),
    (Channel.EMAIL, Direction.OUTBOUND, Purpose.REMINDER, Status.SENT, "Voucher expires soon"),
    (Channel.SMS, Direction.OUTBOUND, Purpose.TRANSACTIONAL, Status.DELIVERED, "Order ready"),
    (Channel.CHAT, Direction.INBOUND, Purpose.SUPPORT, Status.REPLIED, "Question about sizes"),
    (Channel.CHAT, Direction.INBOUND, Purpose.LOYALTY, Status.REPLIED, "How points work"),
)

TICKETS = (
    ("Parcel arrived damaged", Ticket.Priority.HIGH, "The box was crushed and a mug broke."),
    ("Refund not received", Ticket.Priority.URGENT, "Returned the jacket two weeks ago."),
    ("Change of delivery address", Ticket.Priority.NORMAL, "Moving next week; new address?"),
    ("Points missing after purchase", Ticket.Priority.NORMAL, "My last order earned no points."),
    ("Size exchange", Ticket.Priority.LOW, "Could I swap the boots for a 39?"),
    ("Gift card not working", Ticket.Priority.HIGH, "The code is refused at checkout."),
)


def demo_present() -> bool:
    return Campaign.objects.filter(name__in=[c.name for c in CAMPAIGNS]).exists()


def communications_demo_create(*, seed: int = 42) -> dict[str, int]:
    """Load the demo communications over the demo customers. Returns what was made."""
    rng = random.Random(seed)
    now = timezone.now().replace(microsecond=0)
    customers = list(Customer.objects.filter(external_id__startswith=DEMO_PREFIX).order_by("pk"))
    if not customers:
        return {}
    staff = demo_staff_create()
    logged = demo_contacts_log(rng=rng, customers=customers, staff=staff, now=now)
    campaigns, orders = [], 0
    for spec in CAMPAIGNS:
        campaign = demo_campaign_create(spec=spec, staff=staff[MARKETING], now=now)
        if campaign is None:
            continue
        orders += demo_campaign_run(rng=rng, campaign=campaign, spec=spec, now=now)
        campaigns.append(campaign)
    tickets = demo_tickets_open(rng=rng, customers=customers, staff=staff, now=now)
    return {
        "logged contacts": logged,
        "campaigns": len(campaigns),
        "campaign messages": Communication.objects.filter(campaign__in=campaigns).count(),
        "orders after campaigns": orders,
        "open tickets": tickets,
    }


def demo_contacts_log(*, rng: random.Random, customers, staff, now: datetime) -> int:
    """A history of contacts for about one customer in ten, logged by the staff."""
    logged = 0
    with transaction.atomic():
        for customer in customers:
            if rng.random() >= 0.1:
                continue
            for _ in range(rng.randint(1, 3)):
                channel, direction, purpose, status, subject = rng.choice(LOGGED)
                communication_log(
                    customer=customer,
                    channel=channel,
                    direction=direction,
                    purpose=purpose,
                    status=status,
                    subject=subject,
                    occurred_at=now - timedelta(days=rng.uniform(0, 120)),
                    staff_user=staff[MANAGERS if purpose == Purpose.MARKETING else SUPPORT],
                )
                logged += 1
    return logged


def demo_campaign_create(*, spec: DemoCampaign, staff, now: datetime) -> Campaign | None:
    """The campaign as it stands after its send finished (written directly: no service starts
    a campaign in the past). None when its segment is missing."""
    segment = (
        Segment.objects.filter(system_key=spec.segment_key).first()
        or Segment.objects.order_by("pk").first()
    )
    if segment is None:
        return None
    started = now - timedelta(days=spec.days_ago)
    return Campaign.objects.create(
        name=spec.name,
        channel=spec.channel,
        purpose=Purpose.MARKETING,
        subject=spec.subject,
        body=spec.body,
        segment=segment,
        status=Campaign.Status.SENT,
        holdout_percent=spec.holdout_percent,
        started_at=started,
        finished_at=started + timedelta(minutes=45),
        created_by=staff,
    )


def _skip_reason(customer: Customer, channel: str) -> str:
    """Why a marketing message may not go to the customer, as the campaign's start judges it."""
    if customer.do_not_contact:
        return SkipReason.DO_NOT_CONTACT
    if not (customer.accepts_email if channel == Channel.EMAIL else customer.accepts_sms):
        return SkipReason.NO_CONSENT
    if not customer.can_receive_offers:
        return SkipReason.NO_OFFERS
    if not (customer.email if channel == Channel.EMAIL else customer.phone):
        return SkipReason.NO_ADDRESS
    return ""


def demo_campaign_run(
    *, rng: random.Random, campaign: Campaign, spec: DemoCampaign, now: datetime
) -> int:
    """The campaign's messages, from its start to what each recipient did, and the orders that
    followed within the window. Returns the number of orders added."""
    started = campaign.started_at
    customers = list(
        campaign.segment.customers()
        .filter(external_id__startswith=DEMO_PREFIX)
        .order_by("pk")[: spec.size]
    )
    with transaction.atomic():
        messages = demo_messages_create(rng=rng, campaign=campaign, customers=customers)
        outcomes = EMAIL_OUTCOMES if spec.channel == Channel.EMAIL else SMS_OUTCOMES
        statuses, weights = zip(*outcomes, strict=True)
        buyers = []
        for message in messages:
            if message.skip_reason:
                communication_advance(communication=message, status=Status.SKIPPED, at=started)
                continue
            if message.status == Status.HELD_OUT:
                reached, touch = Status.HELD_OUT, started
            else:
                reached = rng.choices(statuses, weights=weights)[0]
                touch = _message_steps(rng, message, reached, started)
            if touch and rng.random() < BUYING.get(reached, 0):
                buyers.append((message.customer_id, touch))
        orders = _orders_after(rng, campaign, buyers, now)
    orders_bulk_sync(customer_ids=[customer_id for customer_id, _ in buyers])
    return orders


def demo_messages_create(*, rng: random.Random, campaign: Campaign, customers) -> list:
    """One message per customer as the campaign's start creates them: skipped with the reason,
    else queued, and a random share of the eligible held out (written directly, with the
    counters the start sets; to become campaign_start once it takes a time)."""
    started = campaign.started_at
    messages = []
    for customer in customers:
        reason = _skip_reason(customer, campaign.channel)
        messages.append(
            Communication(
                customer=customer,
                campaign=campaign,
                channel=campaign.channel,
                direction=Direction.OUTBOUND,
                purpose=campaign.purpose,
                status=Status.QUEUED,
                skip_reason=reason,
                queued_at=started,
                recipient=""
                if reason
                else (customer.email if campaign.channel == Channel.EMAIL else str(customer.phone)),
                occurred_at=started,
            )
        )
    eligible = [message for message in messages if not message.skip_reason]
    held_out = rng.sample(eligible, len(eligible) * campaign.holdout_percent // 100)
    for message in held_out:
        message.status = Status.HELD_OUT
    for message in messages:
        if message.skip_reason or message.status == Status.HELD_OUT:
            message.queued_at = None  # as the start leaves them: never queued to send
    Communication.objects.bulk_create(messages, batch_size=1000)
    Campaign.objects.filter(pk=campaign.pk).update(
        recipients_count=len(messages), held_out_count=len(held_out)
    )
    return messages


def _message_steps(rng: random.Random, message, reached: str, started: datetime):
    """Advance the message step by step to ``reached``, each at a plausible time; returns the
    time an order is counted from (the click, else the send), or None when it never went."""
    if reached == Status.FAILED:
        communication_advance(
            communication=message, status=Status.FAILED, at=started, error="Mailbox unavailable"
        )
        return None
    # A throttled send takes its time; each later step follows the one before.
    at = started + timedelta(seconds=rng.uniform(0, 40 * 60))
    communication_advance(communication=message, status=Status.SENT, at=at)
    sent_at = at
    if reached == Status.BOUNCED:
        communication_advance(
            communication=message,
            status=Status.BOUNCED,
            at=at + timedelta(seconds=rng.uniform(5, 120)),
            error="550 No such user",
        )
        return None
    steps = (Status.DELIVERED, Status.OPENED, Status.CLICKED)
    pauses = ((2, 90), (600, 2 * 86400), (10, 900))
    for step, (low, high) in zip(steps, pauses, strict=True):
        if reached == Status.SENT or steps.index(step) > steps.index(reached):
            break
        at += timedelta(seconds=rng.uniform(low, high))
        communication_advance(communication=message, status=step, at=at)
    return at if reached == Status.CLICKED else sent_at


def _orders_after(rng: random.Random, campaign: Campaign, buyers, now: datetime) -> int:
    """Delivered orders placed after the message and delivered within the window (bulk
    written; orders_bulk_sync then counts them in the stats, the points and the campaigns)."""
    orders, items = [], []
    for number, (customer_id, touch) in enumerate(buyers, 1):
        placed = touch + timedelta(hours=rng.uniform(1, 48))
        delivered = min(placed + timedelta(hours=rng.uniform(12, 60)), now)
        sku, name, category, price = rng.choice(CATALOG)
        quantity = rng.choice((1, 1, 1, 2, 3))
        total = Decimal(price) * quantity
        order = Order(
            customer_id=customer_id,
            number=f"{ORDER_PREFIX}{campaign.pk}-{number:05d}",
            status=Order.Status.DELIVERED,
            placed_at=placed,
            delivered_at=delivered,
            total=total,
            item_count=quantity,
            payment_method=Order.PaymentMethod.CARD,
            channel=Order.Channel.ONLINE,
        )
        orders.append(order)
        items.append(
            OrderItem(
                order=order,
                sku=sku,
                product_name=name,
                category=category,
                quantity=quantity,
                unit_price=Decimal(price),
                line_total=total,
            )
        )
    Order.objects.bulk_create(orders, batch_size=1000)
    OrderItem.objects.bulk_create(items, batch_size=1000)
    return len(orders)


def demo_tickets_open(*, rng: random.Random, customers, staff, now: datetime) -> int:
    """Open and pending tickets, each with the customer's first message and, for some, the
    staff's reply (tickets written directly until a ticket service takes a time; their
    messages are logged contacts with purpose support)."""
    chosen = rng.sample(customers, min(len(TICKETS), len(customers)))
    with transaction.atomic():
        for customer, (subject, priority, text) in zip(chosen, TICKETS, strict=False):
            opened = now - timedelta(hours=rng.uniform(2, 120))
            answered = rng.random() < 0.5
            ticket = Ticket.objects.create(
                customer=customer,
                subject=subject,
                priority=priority,
                status=Ticket.Status.PENDING if answered else Ticket.Status.OPEN,
                assignee=staff[SUPPORT] if answered or rng.random() < 0.5 else None,
            )
            Ticket.objects.filter(pk=ticket.pk).update(created_at=opened, updated_at=opened)
            communication_log(
                customer=customer,
                channel=Channel.EMAIL,
                direction=Direction.INBOUND,
                purpose=Purpose.SUPPORT,
                status=Status.DELIVERED,
                subject=subject,
                body=text,
                occurred_at=opened,
                ticket=ticket,
            )
            if answered:
                communication_log(
                    customer=customer,
                    channel=Channel.EMAIL,
                    direction=Direction.OUTBOUND,
                    purpose=Purpose.SUPPORT,
                    status=Status.SENT,
                    subject=f"Re: {subject}",
                    body="Thank you for writing; we are looking into it and will be back today.",
                    occurred_at=opened + timedelta(hours=rng.uniform(0.5, 2)),
                    staff_user=staff[SUPPORT],
                    ticket=ticket,
                )
    return len(chosen)
