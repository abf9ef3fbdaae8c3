"""Every contact with a customer (the log), the templates and campaigns that send them, and the
support tickets whose messages they are.

A ``Communication`` is one contact: a call or visit staff logged, an email or SMS a campaign sent
(one per campaign and customer), a reply that came in, a ticket's message. Its status only moves
forward, through ``communications.services.communication_advance``, which stamps the step's time.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PHONE = "phone", "Call"
    PUSH = "push", "Push"
    IN_APP = "in_app", "In the app"
    CHAT = "chat", "Chat"
    IN_PERSON = "in_person", "In person"


# The channels a campaign or a template sends through.
SENDING_CHANNELS = (Channel.EMAIL, Channel.SMS)


class Direction(models.TextChoices):
    OUTBOUND = "outbound", "Outbound"
    INBOUND = "inbound", "Inbound"


class Purpose(models.TextChoices):
    TRANSACTIONAL = "transactional", "Transactional"
    MARKETING = "marketing", "Marketing"
    REMINDER = "reminder", "Reminder"
    FOLLOW_UP = "follow_up", "Follow-up"
    SUPPORT = "support", "Support"
    LOYALTY = "loyalty", "Loyalty"


class SkipReason(models.TextChoices):
    DO_NOT_CONTACT = "do_not_contact", "Do not contact"
    NO_CONSENT = "no_consent", "No consent for the channel"
    NO_OFFERS = "no_offers", "Does not receive offers"
    NO_ADDRESS = "no_address", "No email address or phone number"


class Template(models.Model):
    """A message to send: a subject and a body in Django template syntax, rendered with a
    restricted context (communications/rendering.py), checked when saved."""

    name = models.CharField(max_length=100, unique=True)
    channel = models.CharField(
        max_length=20, choices=[(c.value, c.label) for c in SENDING_CHANNELS]
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.MARKETING)
    subject = models.CharField(max_length=200, blank=True, help_text="Email only.")
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        # Syntax errors, unknown tags and variables, an email without a subject: named by field.
        from communications.rendering import template_errors_by_field

        errors = template_errors_by_field(
            subject=self.subject, body=self.body, channel=self.channel
        )
        if errors:
            raise ValidationError(errors)


class Campaign(models.Model):
    """One message to a segment's customers, on one channel; its counters are kept by the send
    and the tracking (F() increments), so its page reads one row."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=150)
    channel = models.CharField(
        max_length=20, choices=[(c.value, c.label) for c in SENDING_CHANNELS]
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices, default=Purpose.MARKETING)
    template = models.ForeignKey(
        Template, on_delete=models.PROTECT, null=True, blank=True, related_name="campaigns"
    )
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True, help_text="Used when no template is chosen.")
    segment = models.ForeignKey(
        "segments.Segment", on_delete=models.PROTECT, related_name="campaigns"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    holdout_percent = models.PositiveSmallIntegerField(
        "control group (%)",
        default=0,
        validators=[MinValueValidator(0), MaxValueValidator(50)],
        help_text="A share of the eligible customers, drawn at random when the send starts, who "
        "are not sent the message, to measure what it earned.",
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    error = models.TextField(blank=True)

    # Counters, kept by the send and the tracking.
    recipients_count = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    delivered_count = models.PositiveIntegerField(default=0)
    opened_count = models.PositiveIntegerField(default=0)
    clicked_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    held_out_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["scheduled_at"],
                condition=Q(status="scheduled"),
                name="campaign_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Ticket(models.Model):
    """A customer's request to support; its messages are Communications with purpose support."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    class Priority(models.TextChoices):
        LOW = "low", "Low"
        NORMAL = "normal", "Normal"
        HIGH = "high", "High"
        URGENT = "urgent", "Urgent"

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="tickets"
    )
    subject = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    priority = models.CharField(max_length=20, choices=Priority.choices, default=Priority.NORMAL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [
            models.Index(fields=["status", "-updated_at"], name="ticket_status_idx"),
            models.Index(fields=["assignee", "status"], name="ticket_assignee_idx"),
            models.Index(fields=["customer", "-created_at"], name="ticket_customer_idx"),
        ]

    def __str__(self) -> str:
        return self.subject


class Communication(models.Model):
    """One contact with a customer, in either direction, on any channel."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        OPENED = "opened", "Opened"
        CLICKED = "clicked", "Clicked"
        REPLIED = "replied", "Replied"
        BOUNCED = "bounced", "Bounced"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        HELD_OUT = "held_out", "Held out (control group)"

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="communications"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    direction = models.CharField(
        max_length=20, choices=Direction.choices, default=Direction.OUTBOUND
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    skip_reason = models.CharField(max_length=20, choices=SkipReason.choices, blank=True)
    # The time of each step; set once, by communication_advance.
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    skipped_at = models.DateTimeField(null=True, blank=True)
    # When a send took the message to hand it to the channel's backend. A message claimed but
    # still queued was interrupted mid-send: it is not sent again, so that none goes twice.
    claimed_at = models.DateTimeField(null=True, blank=True)
    # The address or number it went to or came from.
    recipient = models.CharField(max_length=254, blank=True)
    error = models.TextField(blank=True)
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, null=True, blank=True, related_name="communications"
    )
    template = models.ForeignKey(
        Template, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, null=True, blank=True, related_name="messages"
    )
    provider_message_id = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # When the contact happened (a logged call may be entered afterwards).
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"],
                condition=Q(campaign__isnull=False),
                name="communication_campaign_customer_unique",
            ),
        ]
        indexes = [
            # The log, newest first: a campaign's messages share one time, so the id breaks the
            # tie in the index too, and a page is read from it instead of sorting them all.
            models.Index(fields=["-occurred_at", "-id"], name="communication_occurred_idx"),
            models.Index(fields=["customer", "-occurred_at"], name="communication_customer_idx"),
            # The log page filtered by a channel few contacts use (or none): without it,
            # PostgreSQL reads the whole table to find none (60 ms at a million contacts).
            models.Index(fields=["channel", "-occurred_at"], name="communication_channel_idx"),
            models.Index(fields=["campaign", "status"], name="communication_campaign_idx"),
            models.Index(fields=["ticket", "occurred_at"], name="communication_ticket_idx"),
            models.Index(
                fields=["provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="communication_provider_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} · {self.customer_id} · {self.get_status_display()}"


class TrackingEvent(models.Model):
    """What a recipient did with a message: opened it (the pixel), clicked a link, unsubscribed.
    Every event is kept; ``counted`` says whether it counts as engagement (a link fetched by a
    mail scanner seconds after delivery, or by something that is not a browser, does not)."""

    class Kind(models.TextChoices):
        OPEN = "open", "Opened"
        CLICK = "click", "Clicked"
        UNSUBSCRIBE = "unsubscribe", "Unsubscribed"

    communication = models.ForeignKey(
        Communication, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    url = models.URLField(max_length=2000, blank=True)
    user_agent = models.CharField(max_length=500, blank=True)
    counted = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["communication", "kind"], name="tracking_communication_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.communication_id}"


class Attribution(models.Model):
    """An order credited to a campaign: delivered within the attribution window after the
    customer clicked the campaign's message (or, without a click, after it was sent; for the
    control group, after the send started). One per order: the last campaign wins."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="attributions")
    communication = models.ForeignKey(
        Communication, on_delete=models.CASCADE, related_name="attributions"
    )
    order = models.OneToOneField(
        "customers.Order", on_delete=models.CASCADE, related_name="campaign_attribution"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    held_out = models.BooleanField(default=False)
    by_click = models.BooleanField(default=False)
    revenue = models.DecimalField(max_digits=12, decimal_places=2)
    delivered_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["campaign", "held_out"], name="attribution_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.order_id} → {self.campaign_id}"
