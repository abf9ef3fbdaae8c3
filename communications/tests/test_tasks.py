"""The send task and the beat: nothing sent twice, the rate limit, retries, scheduled starts.

Email goes through Django's locmem backend (the test run's EMAIL_BACKEND): ``mail.outbox`` is
what the customers received."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from communications import campaigns, tasks
from communications.backends import Backend, SendResult
from communications.models import Campaign, Channel, Communication
from communications.tests.factories import CampaignFactory
from crm.celery import app
from customers.tests.factories import CustomerFactory
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status
MessageStatus = Communication.Status


@pytest.fixture(autouse=True)
def unpaced(settings):
    settings.CRM_CAMPAIGN_RATE_LIMITS = {"email": 0, "sms": 0}
    settings.CRM_CAMPAIGN_BATCH = 3


def campaign_to(count: int, **fields) -> Campaign:
    segment = SegmentFactory(rules={})
    for _ in range(count):
        SegmentMembershipFactory(segment=segment, customer=CustomerFactory(accepts_email=True))
    return CampaignFactory(segment=segment, status=Status.SENDING, **fields)


def recipients_of_outbox() -> list[str]:
    return [address for message in mail.outbox for address in message.to]


def test_sending_sends_each_queued_message_once_and_finishes_the_campaign():
    campaign = campaign_to(7, subject="Hello {{ customer.first_name }}")

    tasks.campaign_send.delay(campaign.pk)

    campaign.refresh_from_db()
    assert campaign.status == Status.SENT
    assert campaign.finished_at is not None
    assert (campaign.recipients_count, campaign.sent_count, campaign.failed_count) == (7, 7, 0)
    sent = Communication.objects.filter(campaign=campaign)
    assert sorted(recipients_of_outbox()) == sorted(sent.values_list("recipient", flat=True))
    message = sent.select_related("customer").first()
    assert message.status == MessageStatus.SENT
    assert message.subject == f"Hello {message.customer.first_name}"
    assert message.provider_message_id
    email = next(e for e in mail.outbox if e.to == [message.recipient])
    assert "List-Unsubscribe" in email.extra_headers
    assert "/unsubscribe/" in email.body


def test_the_task_run_twice_sends_nothing_twice():
    campaign = campaign_to(5)

    tasks.campaign_send.delay(campaign.pk)
    tasks.campaign_send.delay(campaign.pk)
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.SENDING)
    tasks.campaign_send.delay(campaign.pk)

    assert len(mail.outbox) == 5
    assert len(set(recipients_of_outbox())) == 5
    assert Campaign.objects.get(pk=campaign.pk).sent_count == 5


def test_a_crash_after_a_partial_send_then_a_rerun_sends_nothing_twice(settings):
    """A worker sends a batch, then dies while handing the next one to the backend: that batch
    is claimed and still queued. The re-run marks it failed (it may have gone) and sends the
    rest once."""
    settings.CRM_CAMPAIGN_CLAIM_TIMEOUT = 0
    campaign = campaign_to(8)

    class DiesMidBatch(Backend):
        def send(self, messages):
            mail.outbox.append(mail.EmailMessage(to=[messages[0].to]))  # one went out
            raise SystemExit("worker killed")

    first = campaigns.campaign_send_batches(campaign_id=campaign.pk, batches=1)
    assert first.sent == 3
    import communications.backends as backends

    original = backends.backend_for
    backends.backend_for = lambda channel: DiesMidBatch()
    try:
        with pytest.raises(SystemExit):
            campaigns.campaign_send_batches(campaign_id=campaign.pk)
    finally:
        backends.backend_for = original
    interrupted = Communication.objects.filter(
        campaign=campaign, status=MessageStatus.QUEUED, claimed_at__isnull=False
    )
    assert interrupted.count() == 3

    tasks.campaign_send.delay(campaign.pk)

    assert len(mail.outbox) == 8 - 2  # 3, then 1 of the interrupted batch, then the last 2
    assert len(set(recipients_of_outbox())) == len(mail.outbox)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == (Status.SENT, 5, 3)
    failed = Communication.objects.filter(campaign=campaign, status=MessageStatus.FAILED)
    assert all("never to send it twice" in message.error for message in failed)


def test_a_claim_of_a_send_in_progress_is_left_to_it(settings):
    settings.CRM_CAMPAIGN_CLAIM_TIMEOUT = 600
    campaign = campaign_to(4)
    campaigns.campaign_start(campaign=campaign)
    in_flight = Communication.objects.filter(campaign=campaign).order_by("pk")[:1]
    Communication.objects.filter(pk__in=list(in_flight.values_list("pk", flat=True))).update(
        claimed_at=timezone.now()
    )

    outcome = campaigns.campaign_send_batches(campaign_id=campaign.pk)

    assert (outcome.sent, outcome.interrupted, outcome.in_flight) == (3, 0, 1)
    assert Campaign.objects.get(pk=campaign.pk).status == Status.SENDING


def test_a_cancelled_campaign_stops_between_batches():
    campaign = campaign_to(9)

    campaigns.campaign_send_batches(campaign_id=campaign.pk, batches=1)
    campaigns.campaign_cancel(campaign=campaign)
    outcome = campaigns.campaign_send_batches(campaign_id=campaign.pk)

    assert outcome.stopped
    assert len(mail.outbox) == 3
    assert Communication.objects.filter(campaign=campaign, status=MessageStatus.QUEUED).count() == 6


def test_the_rate_limit_paces_the_batches_on_the_clock(settings):
    settings.CRM_CAMPAIGN_RATE_LIMITS = {"email": 2, "sms": 0}
    settings.CRM_CAMPAIGN_BATCH = 100
    campaign = campaign_to(7)
    now = [1000.0]
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        now[0] += seconds

    outcome = campaigns.campaign_send_batches(
        campaign_id=campaign.pk, clock=lambda: now[0], sleep=sleep
    )

    # 2 a second: batches of 2, 2, 2 and 1, each waiting its share of time on the fake clock.
    assert outcome.batches == 4
    assert slept == [1.0, 1.0, 1.0, 0.5]
    assert now[0] - 1000.0 == 3.5  # 7 messages at 2 a second


def test_the_pacer_does_not_wait_when_sending_is_slower_than_the_rate():
    now = [0.0]
    slept = []
    pacer = campaigns.Pacer(10, clock=lambda: now[0], sleep=slept.append)

    now[0] = 2.0  # 10 messages took 2 seconds: already under 10 a second
    pacer.wait_after(10)

    assert slept == []


class FlakyBackend(Backend):
    """Answers a temporary failure for every message ``failures`` times, then accepts them."""

    calls = 0
    failures = 1

    def send(self, messages):
        FlakyBackend.calls += 1
        if FlakyBackend.calls <= FlakyBackend.failures:
            return [
                SendResult(m.communication_id, ok=False, error="421 try later", temporary=True)
                for m in messages
            ]
        return [SendResult(m.communication_id, ok=True, provider_message_id="p") for m in messages]


@pytest.fixture
def flaky(monkeypatch):
    import communications.backends as backends

    FlakyBackend.calls = 0
    monkeypatch.setattr(backends, "backend_for", lambda channel: FlakyBackend())
    return FlakyBackend


def test_a_temporary_failure_is_retried_and_then_sent(flaky):
    campaign = campaign_to(2)
    flaky.failures = 2

    result = tasks.campaign_send.delay(campaign.pk).get()

    campaign.refresh_from_db()
    assert flaky.calls == 3
    assert result["sent"] == 2
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == (Status.SENT, 2, 0)


def test_retries_back_off_exponentially(settings):
    settings.CRM_CAMPAIGN_RETRY_BACKOFF = 30

    assert [tasks.retry_countdown(n) for n in range(4)] == [30, 60, 120, 240]


def test_a_temporary_failure_leaves_the_message_queued_and_unclaimed(flaky):
    campaign = campaign_to(2)
    flaky.failures = 1

    outcome = campaigns.campaign_send_batches(campaign_id=campaign.pk)

    assert outcome.temporary == 2
    messages = Communication.objects.filter(campaign=campaign)
    assert set(messages.values_list("status", "claimed_at")) == {(MessageStatus.QUEUED, None)}
    assert messages.first().error == "421 try later"


def test_after_the_last_retry_the_messages_left_are_failed(settings, flaky):
    settings.CRM_CAMPAIGN_MAX_RETRIES = 2
    campaign = campaign_to(2)
    flaky.failures = 10

    tasks.campaign_send.delay(campaign.pk)

    campaign.refresh_from_db()
    assert flaky.calls == 3
    assert (campaign.status, campaign.failed_count) == (Status.FAILED, 2)
    assert "Still failing after 2 retries" in campaign.error


def test_a_permanent_failure_is_recorded_and_not_retried(monkeypatch):
    import communications.backends as backends

    class Refuses(Backend):
        def send(self, messages):
            return [
                SendResult(m.communication_id, ok=False, error="550 no such user") for m in messages
            ]

    monkeypatch.setattr(backends, "backend_for", lambda channel: Refuses())
    campaign = campaign_to(2)

    tasks.campaign_send.delay(campaign.pk)

    campaign.refresh_from_db()
    assert (campaign.status, campaign.failed_count, campaign.sent_count) == (Status.SENT, 2, 0)
    assert set(Communication.objects.filter(campaign=campaign).values_list("status", "error")) == {
        (MessageStatus.FAILED, "550 no such user")
    }


def test_sms_goes_through_the_sms_backend(settings, capsys, django_capture_on_commit_callbacks):
    settings.SMS_BACKEND = "console"
    segment = SegmentFactory(rules={})
    SegmentMembershipFactory(
        segment=segment, customer=CustomerFactory(accepts_sms=True, phone="+14155550123")
    )
    campaign = CampaignFactory(
        segment=segment, channel=Channel.SMS, subject="", body="Sale at {{ shop_name }}"
    )

    with django_capture_on_commit_callbacks(execute=True):
        campaigns.campaign_send_now(campaign=campaign)

    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent_count) == (Status.SENT, 1)
    assert mail.outbox == []
    assert "+14155550123" in capsys.readouterr().out


def test_send_now_starts_after_commit(django_capture_on_commit_callbacks):
    campaign = campaign_to(2)
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.DRAFT)
    campaign.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        campaigns.campaign_send_now(campaign=campaign)
    assert mail.outbox == []
    for callback in callbacks:
        callback()

    assert len(mail.outbox) == 2
    assert Campaign.objects.get(pk=campaign.pk).status == Status.SENT


def test_the_beat_starts_a_scheduled_campaign_when_it_is_due(django_capture_on_commit_callbacks):
    due = campaign_to(2)
    later = campaign_to(2)
    Campaign.objects.filter(pk=due.pk).update(
        status=Status.SCHEDULED, scheduled_at=timezone.now() - timedelta(seconds=5)
    )
    Campaign.objects.filter(pk=later.pk).update(
        status=Status.SCHEDULED, scheduled_at=timezone.now() + timedelta(hours=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        started = tasks.campaigns_dispatch_due.delay().get()

    assert started == [due.pk]
    assert Campaign.objects.get(pk=due.pk).status == Status.SENT
    assert Campaign.objects.get(pk=later.pk).status == Status.SCHEDULED
    assert len(mail.outbox) == 2
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.campaigns_dispatch_due.delay().get() == []


def test_the_beat_schedule_runs_the_dispatch_every_minute():
    app.loader.import_default_modules()
    dispatch = PeriodicTask.objects.select_related("interval").get(
        task="communications.campaigns_dispatch_due"
    )

    assert dispatch.enabled
    assert (dispatch.interval.every, dispatch.interval.period) == (1, "minutes")
    assert dispatch.task in app.tasks
    assert "communications.campaign_send" in app.tasks


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_message_once(monkeypatch, settings):
    """Two runs of the send, started together on their own connections, for many rounds: the
    claims (FOR UPDATE SKIP LOCKED, committed first) split the messages between them."""
    import threading

    from django.db import connection

    import communications.backends as backends

    settings.CRM_CAMPAIGN_BATCH = 4
    handed: list[int] = []
    lock = threading.Lock()

    class Records(Backend):
        def send(self, messages):
            with lock:
                handed.extend(m.communication_id for m in messages)
            return [SendResult(m.communication_id, ok=True) for m in messages]

    monkeypatch.setattr(backends, "backend_for", lambda channel: Records())
    for _ in range(10):
        handed.clear()
        campaign = campaign_to(30)
        campaigns.campaign_start(campaign=campaign)
        barrier = threading.Barrier(2)
        errors = []

        def worker(campaign_id=campaign.pk, barrier=barrier, errors=errors):
            try:
                barrier.wait()
                campaigns.campaign_send_batches(campaign_id=campaign_id)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                connection.close()

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert len(handed) == len(set(handed)) == 30
        campaign.refresh_from_db()
        assert (campaign.status, campaign.sent_count) == (Status.SENT, 30)


def test_a_long_send_carries_on_in_a_new_task(monkeypatch):
    campaign = campaign_to(7)
    now = [0.0]

    def clock():
        now[0] += 100.0  # each look at the clock, a hundred seconds later
        return now[0]

    outcome = campaigns.campaign_send_batches(campaign_id=campaign.pk, seconds=50, clock=clock)

    assert outcome.more and not outcome.finished
    assert outcome.batches == 1
    monkeypatch.setattr(tasks, "SLICE_SECONDS", 0)
    tasks.campaign_send.delay(campaign.pk)  # each run a batch, then the next task
    assert len(mail.outbox) == 7
    assert Campaign.objects.get(pk=campaign.pk).status == Status.SENT


def test_a_customer_who_opts_out_after_the_start_is_skipped_not_sent():
    campaign = campaign_to(4)
    campaigns.campaign_start(campaign=campaign)
    messages = list(Communication.objects.filter(campaign=campaign).order_by("pk"))
    unsubscribed, blocked = messages[0].customer, messages[1].customer
    type(unsubscribed).objects.filter(pk=unsubscribed.pk).update(accepts_email=False)
    type(blocked).objects.filter(pk=blocked.pk).update(do_not_contact=True)

    tasks.campaign_send.delay(campaign.pk)

    assert unsubscribed.email not in recipients_of_outbox()
    assert blocked.email not in recipients_of_outbox()
    assert len(mail.outbox) == 2
    skipped = {
        message.customer_id: message.skip_reason
        for message in Communication.objects.filter(campaign=campaign, status="skipped")
    }
    assert skipped == {unsubscribed.pk: "no_consent", blocked.pk: "do_not_contact"}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent_count, campaign.skipped_count) == (Status.SENT, 2, 2)
