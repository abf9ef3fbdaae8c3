"""Campaigns: a draft, scheduled or sent now, started and sent in batches by a Celery task.

The life of a campaign (one transition function, ``campaign_transition``, row locked):

    draft → scheduled | sending;  scheduled → sending | cancelled | draft
    sending → sent | cancelled | failed

**Start** (``campaign_start``, once, under the campaign's row lock): one Communication per
customer of the segment, in one INSERT … SELECT (unique per campaign and customer, ON CONFLICT DO
NOTHING): those who may not be sent it are ``skipped`` with the reason, a random share of the
eligible is ``held_out`` (the control group), the rest are ``queued`` with their address.

**Send** (``campaign_send_batches``): batches of queued messages are claimed (``claimed_at``,
committed) before they are handed to the channel's backend, then moved to sent or failed through
``communication_advance``. A message claimed but still queued was interrupted mid-send: it is
marked failed, never sent again, so that no customer gets it twice.
"""

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Case, CharField, Count, DateTimeField, F, Q, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from communications.models import (
    SENDING_CHANNELS,
    Campaign,
    Channel,
    Communication,
    Direction,
    Purpose,
    SkipReason,
    Template,
)
from communications.services import communication_advance, communications_advance_many
from core import sql

logger = logging.getLogger(__name__)

Status = Campaign.Status
MessageStatus = Communication.Status

TRANSITIONS = {
    Status.DRAFT: (Status.SCHEDULED, Status.SENDING),
    Status.SCHEDULED: (Status.SENDING, Status.CANCELLED, Status.DRAFT),
    Status.SENDING: (Status.SENT, Status.CANCELLED, Status.FAILED),
}
EDITABLE = (Status.DRAFT,)
# Where each channel finds a customer's address, and the consent it needs.
ADDRESS_FIELD = {Channel.EMAIL: "email", Channel.SMS: "phone"}
CONSENT_FIELD = {Channel.EMAIL: "accepts_email", Channel.SMS: "accepts_sms"}
INTERRUPTED = "Interrupted while sending; not sent again so as never to send it twice."


# --- The status ----------------------------------------------------------------------------------


def campaign_transition(*, campaign: Campaign, status: str, **changes) -> Campaign:
    """Move the campaign to ``status`` (with the other ``changes``, such as ``scheduled_at``),
    after locking its row and checking the move; refused moves raise a ValidationError on
    ``status``. The caller's object is brought up to date and returned."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if status not in TRANSITIONS.get(locked.status, ()):
            raise ValidationError(
                {
                    "status": f"A campaign that is {locked.get_status_display().lower()} "
                    f"cannot be made {Status(status).label.lower()}."
                }
            )
        locked.status = status
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=["status", *changes, "updated_at"])
        logger.info("Campaign %s is now %s", locked.pk, status)
    for name in ("status", "updated_at", *changes):
        setattr(campaign, name, getattr(locked, name))
    return campaign


# --- Drafts ---------------------------------------------------------------------------------------

DRAFT_FIELDS = (
    "name",
    "segment",
    "channel",
    "purpose",
    "template",
    "subject",
    "body",
    "holdout_percent",
)


def _draft_check(campaign: Campaign) -> None:
    """Every refusal of a draft, each on its field: the model's own rules, the template's
    channel, and the message's syntax and variables (``template_errors``)."""
    from communications.rendering import template_errors_by_field

    errors: dict[str, list[str]] = {}
    try:
        campaign.full_clean(exclude=["created_by", "status"])
    except ValidationError as error:
        errors.update(error.message_dict)
    if campaign.channel not in SENDING_CHANNELS:
        errors.setdefault("channel", ["Choose email or SMS."])
    template = campaign.template
    if template is not None:
        if template.channel != campaign.channel:
            errors.setdefault("template", []).append(
                f"“{template}” is a template for {template.get_channel_display()}, "
                f"not {Channel(campaign.channel).label}."
            )
    elif not errors.get("channel"):
        problems = template_errors_by_field(
            subject=campaign.subject if campaign.channel == Channel.EMAIL else "",
            body=campaign.body,
            channel=campaign.channel,
        )
        for name, messages in problems.items():
            errors.setdefault(name, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def campaign_create(
    *,
    name: str,
    segment,
    channel: str,
    purpose: str = Purpose.MARKETING,
    template: Template | None = None,
    subject: str = "",
    body: str = "",
    holdout_percent: int = 0,
    created_by=None,
) -> Campaign:
    """A new draft. The message is the template's, or its own subject and body (checked:
    a syntax error or an unknown variable is refused on the field)."""
    campaign = Campaign(
        name=name.strip(),
        segment=segment,
        channel=channel,
        purpose=purpose,
        template=template,
        subject="" if template else subject.strip(),
        body="" if template else body.strip(),
        holdout_percent=holdout_percent,
        created_by=created_by,
    )
    _draft_check(campaign)
    campaign.save()
    return campaign


def campaign_update(*, campaign: Campaign, **fields) -> Campaign:
    """Change a draft's ``fields`` (any of DRAFT_FIELDS), checked as a new draft is. Only a
    draft changes: a scheduled campaign goes back to draft first."""
    unknown = set(fields) - set(DRAFT_FIELDS)
    if unknown:
        raise ValueError(f"Not a field of a draft: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.status not in EDITABLE:
            raise ValidationError(
                {"status": f"Only a draft can be changed; this campaign is {locked.status}."}
            )
        for name, value in fields.items():
            if isinstance(value, str) and name != "channel":
                value = value.strip()
            setattr(locked, name, value)
        if locked.template_id:
            locked.subject, locked.body = "", ""
        _draft_check(locked)
        locked.save()
    return locked


# --- Scheduling, sending now, cancelling ----------------------------------------------------------


def campaign_schedule(*, campaign: Campaign, at: datetime) -> Campaign:
    """Send the draft at ``at``, a time in the future; the beat task starts it then. A
    scheduled campaign is given the new time (back to draft and scheduled again, at once)."""
    if at is None or at <= timezone.now():
        raise ValidationError({"scheduled_at": "Choose a time in the future."})
    _draft_check(campaign)
    with transaction.atomic():
        if Campaign.objects.filter(pk=campaign.pk, status=Status.SCHEDULED).exists():
            campaign_transition(campaign=campaign, status=Status.DRAFT, scheduled_at=None)
        return campaign_transition(campaign=campaign, status=Status.SCHEDULED, scheduled_at=at)


def campaign_unschedule(*, campaign: Campaign) -> Campaign:
    """A scheduled campaign back to draft, to be changed or sent otherwise."""
    return campaign_transition(campaign=campaign, status=Status.DRAFT, scheduled_at=None)


def campaign_send_now(*, campaign: Campaign) -> Campaign:
    """Start sending a draft or scheduled campaign now: it is made ``sending`` and the send
    task runs after commit."""
    from communications.tasks import campaign_send

    _draft_check(campaign)
    with transaction.atomic():
        campaign_transition(campaign=campaign, status=Status.SENDING)
        campaign_send.delay_on_commit(campaign.pk)
    return campaign


def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """Cancel a scheduled campaign, or stop one that is sending: the batch being sent ends,
    no other starts, and the messages left queued stay unsent."""
    return campaign_transition(
        campaign=campaign, status=Status.CANCELLED, finished_at=timezone.now()
    )


def campaigns_dispatch_due(*, now: datetime | None = None) -> list[int]:
    """Start every scheduled campaign whose time has come (each made ``sending``, its send task
    queued after commit); returns their ids. Safe to run twice and from two beats at once: a
    campaign already started is left alone."""
    from communications.tasks import campaign_send

    now = now or timezone.now()
    started = []
    due = Campaign.objects.filter(status=Status.SCHEDULED, scheduled_at__lte=now)
    for campaign_id in due.order_by("scheduled_at", "pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = (
                Campaign.objects.select_for_update(skip_locked=True)
                .filter(pk=campaign_id, status=Status.SCHEDULED)
                .first()
            )
            if locked is None:
                continue
            campaign_transition(campaign=locked, status=Status.SENDING)
            campaign_send.delay_on_commit(locked.pk)
        started.append(campaign_id)
    return started


# --- The preview and the start --------------------------------------------------------------------


def _skip_reason(campaign: Campaign) -> Case:
    """The first reason a customer may not be sent the campaign, or "" when none: not to be
    contacted, no consent for the channel, no offers (marketing only), no address."""
    address = ADDRESS_FIELD[campaign.channel]
    whens = [
        When(do_not_contact=True, then=Value(SkipReason.DO_NOT_CONTACT.value)),
        When(**{CONSENT_FIELD[campaign.channel]: False}, then=Value(SkipReason.NO_CONSENT.value)),
    ]
    if campaign.purpose == Purpose.MARKETING:
        whens.append(When(can_receive_offers=False, then=Value(SkipReason.NO_OFFERS.value)))
    whens.append(
        When(
            Q(**{f"{address}__isnull": True}) | Q(**{address: ""}),
            then=Value(SkipReason.NO_ADDRESS.value),
        )
    )
    return Case(*whens, default=Value(""), output_field=CharField())


def holdout_size(eligible: int, percent: int) -> int:
    """How many of ``eligible`` customers the control group holds: ``percent`` of them,
    rounded down (so 10% of 9 is nobody, 10% of 10 is one)."""
    return eligible * percent // 100


@dataclass
class Preview:
    """Who a campaign would reach if it started now."""

    total: int
    excluded: dict[str, int] = field(default_factory=dict)
    holdout: int = 0

    @property
    def excluded_total(self) -> int:
        return sum(self.excluded.values())

    @property
    def eligible(self) -> int:
        return self.total - self.excluded_total

    @property
    def receiving(self) -> int:
        return self.eligible - self.holdout

    def reasons(self) -> list[tuple[str, str, int]]:
        """(reason, label, count) for each reason, in the order they are judged."""
        return [
            (reason, SkipReason(reason).label, count) for reason, count in self.excluded.items()
        ]


def campaign_preview(*, campaign: Campaign) -> Preview:
    """The segment's customers counted now, in one query: how many would receive the message,
    how many are excluded and why (each customer counted once, under the first reason), and the
    control group's size."""
    reasons = [SkipReason.DO_NOT_CONTACT, SkipReason.NO_CONSENT]
    if campaign.purpose == Purpose.MARKETING:
        reasons.append(SkipReason.NO_OFFERS)
    reasons.append(SkipReason.NO_ADDRESS)
    counts = (
        campaign.segment.customers()
        .annotate(skip_reason=_skip_reason(campaign))
        .aggregate(
            total=Count("pk"),
            **{reason.value: Count("pk", filter=Q(skip_reason=reason.value)) for reason in reasons},
        )
    )
    total = counts.pop("total")
    preview = Preview(total=total, excluded={reason: counts[reason] for reason in reasons})
    preview.holdout = holdout_size(preview.eligible, campaign.holdout_percent)
    return preview


def campaign_start(*, campaign: Campaign) -> bool:
    """Create the campaign's messages, once: one per customer of the segment, skipped (with the
    reason), or queued with the address it goes to; then draw the control group at random among
    the queued and set the counters. Runs under the campaign's row lock in one transaction, and
    stamps ``started_at``: called again, it does nothing and returns False."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.started_at is not None or locked.status != Status.SENDING:
            return False
        now = timezone.now()
        _messages_insert(locked, now)
        counts = Communication.objects.filter(campaign=locked).aggregate(
            total=Count("pk"),
            skipped=Count("pk", filter=Q(status=MessageStatus.SKIPPED)),
            queued=Count("pk", filter=Q(status=MessageStatus.QUEUED)),
        )
        held_out = _holdout_draw(locked, holdout_size(counts["queued"], locked.holdout_percent))
        locked.started_at = now
        locked.recipients_count = counts["total"]
        locked.skipped_count = counts["skipped"]
        locked.held_out_count = held_out
        locked.save(
            update_fields=[
                "started_at",
                "recipients_count",
                "skipped_count",
                "held_out_count",
                "updated_at",
            ]
        )
    campaign.started_at = locked.started_at
    campaign.recipients_count = locked.recipients_count
    campaign.skipped_count = locked.skipped_count
    campaign.held_out_count = locked.held_out_count
    transaction.on_commit(_statistics_refresh)
    return True


def _statistics_refresh() -> None:
    """PostgreSQL plans the campaign's page and the log from its statistics of the messages
    table. A start has just added a whole campaign's rows (and a finished send has changed
    their statuses), which the statistics do not know until autovacuum comes by: planned as
    one row, the recipients' page sorted all 100,000 of them (370 ms instead of 66 ms at 1M
    customers). ANALYZE reads a fixed sample (about 0.1 s)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {sql.table(Communication)}")


def _messages_insert(campaign: Campaign, now: datetime) -> int:
    """One INSERT … SELECT of a message per customer of the segment, whose status, skip reason,
    address and times are computed in the SELECT."""
    address = ADDRESS_FIELD[campaign.channel]
    reason = _skip_reason(campaign)
    skipped = ~Q(skip_reason="")

    def stamp(when: Q):
        return Case(When(when, then=Value(now)), default=None, output_field=DateTimeField())

    def constant(value, name: str):
        return Value(value, output_field=Communication._meta.get_field(name))

    values = {
        "campaign": constant(campaign.pk, "campaign"),
        "customer": F("pk"),
        "channel": constant(campaign.channel, "channel"),
        "direction": constant(Direction.OUTBOUND.value, "direction"),
        "purpose": constant(campaign.purpose, "purpose"),
        "template": constant(campaign.template_id, "template"),
        "subject": constant("", "subject"),
        "body": constant("", "body"),
        "status": Case(
            When(skipped, then=Value(MessageStatus.SKIPPED.value)),
            default=Value(MessageStatus.QUEUED.value),
            output_field=CharField(),
        ),
        "skip_reason": F("skip_reason"),
        "queued_at": stamp(~skipped),
        "skipped_at": stamp(skipped),
        "recipient": Case(
            When(skipped, then=Value("")),
            default=Coalesce(F(address), Value(""), output_field=CharField()),
            output_field=CharField(),
        ),
        "error": constant("", "error"),
        "provider_message_id": constant("", "provider_message_id"),
        "metadata": constant({}, "metadata"),
        "occurred_at": constant(now, "occurred_at"),
        "created_at": constant(now, "created_at"),
    }
    customers = (
        campaign.segment.customers()
        .order_by()
        .annotate(skip_reason=reason)
        .values(**{f"v_{name}": expression for name, expression in values.items()})
    )
    select, params = customers.query.sql_with_params()
    names = list(values)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {sql.table(Communication)} ({sql.columns(Communication, *names)}) "
            f"{select} "
            f"ON CONFLICT ({sql.columns(Communication, 'campaign', 'customer')}) "
            f"WHERE {sql.columns(Communication, 'campaign')} IS NOT NULL DO NOTHING",
            params,
        )
        return cursor.rowcount


def _holdout_draw(campaign: Campaign, size: int) -> int:
    """Mark ``size`` of the campaign's queued messages, drawn at random, as held out."""
    if size <= 0:
        return 0
    drawn = list(
        Communication.objects.filter(campaign=campaign, status=MessageStatus.QUEUED)
        .order_by("?")
        .values_list("pk", flat=True)[:size]
    )
    return Communication.objects.filter(pk__in=drawn).update(
        status=MessageStatus.HELD_OUT, queued_at=None
    )


# --- Sending --------------------------------------------------------------------------------------


class Pacer:
    """Keeps a sender under ``rate`` messages a second: after each batch it waits until the
    batch's share of time has passed. The clock and the sleep are given, so tests need none."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self.started = clock()
        self.sent = 0

    def batch_size(self, batch: int) -> int:
        """At most a second's worth of messages per batch, so pauses stay short."""
        if self.rate <= 0:
            return batch
        return max(1, min(batch, math.floor(self.rate)))

    def wait_after(self, count: int) -> None:
        """Count ``count`` messages sent, and wait until they are within the rate."""
        self.sent += count
        if self.rate <= 0:
            return
        due = self.started + self.sent / self.rate
        ahead = due - self.clock()
        if ahead > 0:
            self.sleep(ahead)


def channel_rate(channel: str) -> float:
    """Messages a second the channel may be sent (0: no limit), from settings."""
    return settings.CRM_CAMPAIGN_RATE_LIMITS.get(channel, 0)


@dataclass
class SendOutcome:
    """What one call of ``campaign_send_batches`` did."""

    sent: int = 0
    failed: int = 0
    interrupted: int = 0
    batches: int = 0
    # Messages given back to the queue after a temporary error: the caller retries later.
    temporary: int = 0
    temporary_error: str = ""
    # Messages another worker is sending now (claimed recently): the caller looks again later.
    in_flight: int = 0
    finished: bool = False
    stopped: bool = False  # the campaign was no longer sending (cancelled)
    more: bool = False  # its time was up with messages left: the caller carries on


def campaign_send_batches(
    *,
    campaign_id: int,
    batches: int | None = None,
    seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> SendOutcome:
    """Send the campaign's queued messages in batches (all of them, at most ``batches``, or
    as many as fit in ``seconds``: then ``more`` is set, for the caller to carry on in a new
    task), paced by the channel's rate limit; finish the campaign when none is left. Safe to
    run twice and from two workers at once: a batch is claimed with SKIP LOCKED and committed
    before the backend sees it, and a claim left by a run that died is marked failed, not sent
    again."""
    outcome = SendOutcome()
    campaign = Campaign.objects.select_related("template").get(pk=campaign_id)
    if campaign.status != Status.SENDING:
        outcome.stopped = True
        return outcome
    campaign_start(campaign=campaign)
    outcome.interrupted = _interrupted_fail(campaign)
    message = _message_of(campaign)
    pacer = Pacer(channel_rate(campaign.channel), clock=clock, sleep=sleep)
    size = pacer.batch_size(settings.CRM_CAMPAIGN_BATCH)
    until = None if seconds is None else clock() + seconds
    while batches is None or outcome.batches < batches:
        if not Campaign.objects.filter(pk=campaign.pk, status=Status.SENDING).exists():
            outcome.stopped = True
            return outcome
        claimed = _claim(campaign, size)
        if not claimed:
            break
        outcome.batches += 1
        _batch_send(campaign, message, claimed, outcome)
        pacer.wait_after(len(claimed))
        if outcome.temporary:
            return outcome
        if until is not None and clock() >= until:
            outcome.more = True
            return outcome
    else:
        return outcome
    outcome.in_flight = Communication.objects.filter(
        campaign=campaign, status=MessageStatus.QUEUED
    ).count()
    if not outcome.in_flight:
        outcome.finished = _finish(campaign)
    return outcome


def _interrupted_fail(campaign: Campaign) -> int:
    """Mark failed the messages claimed by a send that died before recording them (claimed
    longer ago than CRM_CAMPAIGN_CLAIM_TIMEOUT, and still queued): the backend may have sent
    them, so they are not sent again."""
    stale = timezone.now() - timedelta(seconds=settings.CRM_CAMPAIGN_CLAIM_TIMEOUT)
    ids = list(
        Communication.objects.filter(
            campaign=campaign,
            status=MessageStatus.QUEUED,
            claimed_at__isnull=False,
            claimed_at__lte=stale,
        ).values_list("pk", flat=True)
    )
    failed = 0
    for message_id in ids:
        message = Communication(pk=message_id)
        failed += communication_advance(
            communication=message, status=MessageStatus.FAILED, error=INTERRUPTED
        )
    if failed:
        logger.warning("Campaign %s: %s messages interrupted while sending", campaign.pk, failed)
    return failed


def _claim(campaign: Campaign, size: int) -> list[dict]:
    """Take up to ``size`` queued messages nobody has claimed, stamp them claimed and commit,
    so no other run takes them and a crash from here on leaves them marked."""
    with transaction.atomic():
        ids = list(
            Communication.objects.select_for_update(skip_locked=True)
            .filter(campaign=campaign, status=MessageStatus.QUEUED, claimed_at__isnull=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:size]
        )
        if not ids:
            return []
        Communication.objects.filter(pk__in=ids).update(claimed_at=timezone.now())
    return list(
        Communication.objects.filter(pk__in=ids)
        .order_by("pk")
        .values("pk", "customer_id", "recipient")
    )


@dataclass
class _Message:
    subject: str
    body: str


def _message_of(campaign: Campaign) -> _Message:
    if campaign.template_id:
        return _Message(campaign.template.subject, campaign.template.body)
    return _Message(campaign.subject, campaign.body)


def _batch_send(campaign: Campaign, message: _Message, claimed: list[dict], outcome) -> None:
    """Render, hand to the backend, and record each message's result."""
    from communications.backends import OutgoingMessage, backend_for
    from communications.rendering import CompiledMessage, customer_contexts
    from communications.tracking import email_parts, unsubscribe_url
    from customers.models import Customer

    compiled = CompiledMessage(subject=message.subject, body=message.body)
    # Consent is read again now: a customer who opted out since the start is skipped, not sent.
    customers = list(
        Customer.objects.filter(pk__in=[row["customer_id"] for row in claimed])
        .annotate(withdrawn=_skip_reason(campaign))
        .only("pk", "first_name", "last_name")
    )
    withdrawn = {customer.pk: customer.withdrawn for customer in customers if customer.withdrawn}
    if withdrawn:
        claimed = _withdrawn_skip(claimed, withdrawn)
        if not claimed:
            return
    contexts = customer_contexts(customers)
    outgoing, rendered = [], {}
    for row in claimed:
        context = dict(contexts[row["customer_id"]])
        if campaign.channel == Channel.EMAIL:
            context["unsubscribe_url"] = unsubscribe_url(row["pk"])
        subject, body = compiled.render(context)
        rendered[row["pk"]] = (subject, body)
        if campaign.channel == Channel.EMAIL:
            parts = email_parts(communication_id=row["pk"], subject=subject, text=body)
            outgoing.append(
                OutgoingMessage(
                    communication_id=row["pk"],
                    to=row["recipient"],
                    subject=parts.subject,
                    text=parts.text,
                    html=parts.html,
                    headers=parts.headers,
                )
            )
        else:
            outgoing.append(
                OutgoingMessage(
                    communication_id=row["pk"], to=row["recipient"], subject="", text=body
                )
            )
    results = backend_for(campaign.channel).send(outgoing)
    _results_record(campaign, rendered, results, outcome)


def _withdrawn_skip(claimed: list[dict], withdrawn: dict[int, str]) -> list[dict]:
    """Skip, with the reason, the claimed messages of customers who may no longer be sent the
    campaign; returns the others."""
    for row in claimed:
        reason = withdrawn.get(row["customer_id"])
        if reason and communication_advance(
            communication=Communication(pk=row["pk"]), status=MessageStatus.SKIPPED
        ):
            Communication.objects.filter(pk=row["pk"]).update(skip_reason=reason)
    return [row for row in claimed if row["customer_id"] not in withdrawn]


def _results_record(campaign: Campaign, rendered: dict, results, outcome) -> None:
    """In one transaction: what was sent stored on each message (its subject, body and the
    provider's id) and moved to sent, the batch at once; permanent failures moved to failed;
    temporary ones given back to the queue (their claim released) for a retry."""
    answered = {result.communication_id: result for result in results}
    sent, released = [], []
    with transaction.atomic():
        for message_id in rendered:
            result = answered.get(message_id)
            if result is not None and result.ok:
                sent.append((message_id, result.provider_message_id or ""))
            elif result is None:
                # The backend said nothing of it: it may have gone, so it is not sent again.
                outcome.failed += communication_advance(
                    communication=Communication(pk=message_id),
                    status=MessageStatus.FAILED,
                    error=INTERRUPTED,
                )
            elif result.temporary:
                released.append(message_id)
                outcome.temporary_error = result.error or "A temporary error."
            else:
                outcome.failed += communication_advance(
                    communication=Communication(pk=message_id),
                    status=MessageStatus.FAILED,
                    error=result.error or "The provider refused it.",
                )
        if sent:
            _sent_store(sent, rendered)
            outcome.sent += communications_advance_many(
                communication_ids=[message_id for message_id, _ in sent],
                status=MessageStatus.SENT,
            )
        if released:
            Communication.objects.filter(pk__in=released, status=MessageStatus.QUEUED).update(
                claimed_at=None, error=outcome.temporary_error[:2000]
            )
    outcome.temporary += len(released)


def _sent_store(sent: list[tuple[int, str]], rendered: dict) -> None:
    """The subject, body and provider's id of each message sent, in one UPDATE … FROM (VALUES
    …): the ORM's bulk_update builds a CASE per column and row, a fifth of the send's time."""
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(sent))
    params = []
    for message_id, provider_id in sent:
        subject, body = rendered[message_id]
        params += [message_id, subject[:200], body, provider_id[:200]]
    id_, subject, body, provider = (
        connection.ops.quote_name(Communication._meta.get_field(name).column)
        for name in ("id", "subject", "body", "provider_message_id")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {sql.table(Communication)} SET {subject} = sent.column2, "
            f"{body} = sent.column3, {provider} = sent.column4 "
            f"FROM (VALUES {rows}) AS sent WHERE {sql.table(Communication)}.{id_} = sent.column1",
            params,
        )


def _finish(campaign: Campaign) -> bool:
    """The campaign is sent: nothing is left queued. Returns False when it was not sending
    (cancelled meanwhile, or finished by another run)."""
    try:
        campaign_transition(campaign=campaign, status=Status.SENT, finished_at=timezone.now())
    except ValidationError:
        return False
    # The send has moved every message on: the planner learns of their statuses now.
    transaction.on_commit(_statistics_refresh)
    return True


def campaign_give_up(*, campaign_id: int, error: str) -> int:
    """After the last retry: the messages still queued (never handed over, or refused for a
    while) are marked failed with ``error``; the campaign ends sent, or failed when nothing at
    all was sent. Returns how many messages were marked failed."""
    campaign = Campaign.objects.get(pk=campaign_id)
    ids = list(
        Communication.objects.filter(
            campaign=campaign, status=MessageStatus.QUEUED, claimed_at__isnull=True
        ).values_list("pk", flat=True)
    )
    failed = 0
    for message_id in ids:
        failed += communication_advance(
            communication=Communication(pk=message_id), status=MessageStatus.FAILED, error=error
        )
    campaign.refresh_from_db()
    if campaign.status == Status.SENDING:
        ending = Status.SENT if campaign.sent_count else Status.FAILED
        with contextlib.suppress(ValidationError):
            campaign_transition(
                campaign=campaign, status=ending, finished_at=timezone.now(), error=error[:2000]
            )
    return failed


# --- Reading ------------------------------------------------------------------------------------


def campaign_recipients(campaign: Campaign, user) -> QuerySet:
    """The campaign's messages, one per customer, as ``user`` may see them, with the
    customer."""
    from core.visibility import rows_visible_to

    return rows_visible_to(
        user, Communication.objects.filter(campaign=campaign), via="customer"
    ).select_related("customer")


@dataclass
class Rate:
    label: str
    count: int
    of: int
    key: str

    @property
    def percent(self) -> float | None:
        return None if not self.of else round(self.count * 100 / self.of, 1)


def campaign_figures(campaign: Campaign) -> list[Rate]:
    """The campaign's counters with their rates: skipped and held out of all recipients, sent
    and failed of those to be sent, delivered of those sent, opened and clicked of those
    delivered."""
    to_send = campaign.recipients_count - campaign.skipped_count - campaign.held_out_count
    return [
        Rate("Recipients", campaign.recipients_count, campaign.recipients_count, "recipients"),
        Rate("Sent", campaign.sent_count, to_send, "sent"),
        Rate("Delivered", campaign.delivered_count, campaign.sent_count, "delivered"),
        Rate("Opened", campaign.opened_count, campaign.delivered_count, "opened"),
        Rate("Clicked", campaign.clicked_count, campaign.delivered_count, "clicked"),
        Rate("Failed", campaign.failed_count, to_send, "failed"),
        Rate("Skipped", campaign.skipped_count, campaign.recipients_count, "skipped"),
        Rate("Held out", campaign.held_out_count, campaign.recipients_count, "held_out"),
    ]
