"""communications/services.py: the one transition function of a message's status, and
logging a contact."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils import timezone

from communications.models import Campaign, Communication
from communications.services import communication_advance, communication_log
from communications.tests.factories import CampaignFactory, CommunicationFactory
from customers.tests.factories import CustomerFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = Communication.Status


def counters(campaign: Campaign) -> dict[str, int]:
    campaign.refresh_from_db()
    names = ("sent", "delivered", "opened", "clicked", "failed", "skipped")
    return {name: getattr(campaign, f"{name}_count") for name in names}


def test_a_step_forward_moves_the_status_and_stamps_its_time_once():
    message = CommunicationFactory()
    first = timezone.now() - timedelta(minutes=5)

    assert communication_advance(communication=message, status=Status.SENT, at=first)
    assert not communication_advance(communication=message, status=Status.SENT)

    message.refresh_from_db()
    assert message.status == Status.SENT and message.sent_at == first


@pytest.mark.parametrize(
    ("start", "move"),
    [
        (Status.CLICKED, Status.OPENED),
        (Status.OPENED, Status.DELIVERED),
        (Status.DELIVERED, Status.SENT),
        (Status.FAILED, Status.SENT),
        (Status.SKIPPED, Status.SENT),
        (Status.HELD_OUT, Status.SENT),
        (Status.CLICKED, Status.FAILED),
        (Status.OPENED, Status.BOUNCED),
        (Status.SENT, Status.SKIPPED),
    ],
)
def test_a_move_backwards_or_sideways_changes_nothing(start, move):
    message = CommunicationFactory(status=start)

    assert not communication_advance(communication=message, status=move)

    message.refresh_from_db()
    assert message.status == start
    assert getattr(message, f"{move}_at") is None


def test_a_campaign_counts_every_step_a_move_passes_and_no_step_twice():
    campaign = CampaignFactory()
    message = CommunicationFactory(campaign=campaign)

    communication_advance(communication=message, status=Status.SENT)
    communication_advance(communication=message, status=Status.CLICKED)  # no open, no delivery
    communication_advance(communication=message, status=Status.OPENED)  # too late: nothing

    assert counters(campaign) == {
        "sent": 1,
        "delivered": 1,
        "opened": 1,
        "clicked": 1,
        "failed": 0,
        "skipped": 0,
    }
    message.refresh_from_db()
    # Counted as delivered and opened, but those times were never reported: not made up.
    assert message.delivered_at is None and message.opened_at is None


def test_failures_count_as_failed_and_skips_as_skipped():
    campaign = CampaignFactory()
    bounced, failed, skipped = (CommunicationFactory(campaign=campaign) for _ in range(3))

    communication_advance(communication=bounced, status=Status.SENT)
    communication_advance(communication=bounced, status=Status.BOUNCED, error="550 no such user")
    communication_advance(communication=failed, status=Status.FAILED, error="refused")
    communication_advance(communication=skipped, status=Status.SKIPPED)

    assert counters(campaign) == {
        "sent": 1,
        "delivered": 0,
        "opened": 0,
        "clicked": 0,
        "failed": 2,
        "skipped": 1,
    }
    bounced.refresh_from_db()
    assert bounced.error == "550 no such user"


def test_a_reply_counts_the_steps_before_it_but_not_a_click():
    campaign = CampaignFactory(channel="sms")
    message = CommunicationFactory(campaign=campaign, channel="sms", status=Status.SENT)

    communication_advance(communication=message, status=Status.REPLIED)

    assert counters(campaign)["delivered"] == 1 and counters(campaign)["clicked"] == 0


def test_queued_and_held_out_are_not_steps_to_move_to():
    message = CommunicationFactory()

    for status in (Status.QUEUED, Status.HELD_OUT, "paint"):
        with pytest.raises(ValidationError):
            communication_advance(communication=message, status=status)


def test_the_advance_runs_three_statements_on_a_campaigns_message(assert_queries):
    message = CommunicationFactory(campaign=CampaignFactory())

    # in a savepoint (the test's transaction holds it): the row locked and read, its UPDATE,
    # the campaign's counters
    with assert_queries(5):
        communication_advance(communication=message, status=Status.SENT)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_report_arriving_twice_at_once_counts_once():
    campaign = CampaignFactory()
    messages = [CommunicationFactory(campaign=campaign, status=Status.SENT) for _ in range(20)]
    errors = []

    for message in messages:
        start = threading.Barrier(2)

        def report(message=message, start=start):
            try:
                start.wait()
                communication_advance(
                    communication=Communication.objects.get(pk=message.pk), status=Status.OPENED
                )
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(error)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=report) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert not errors
    assert counters(campaign)["opened"] == 20 and counters(campaign)["delivered"] == 20


# Logging a contact


def test_a_logged_call_is_recorded_with_its_steps_at_the_time_it_happened():
    customer, staff = CustomerFactory(), UserFactory()
    when = timezone.now() - timedelta(hours=2)

    call = communication_log(
        customer=customer,
        channel="phone",
        direction="outbound",
        purpose="follow_up",
        status=Status.REPLIED,
        subject="  Checked in after the repair ",
        occurred_at=when,
        staff_user=staff,
    )

    call.refresh_from_db()
    assert call.subject == "Checked in after the repair"
    assert call.sent_at == call.delivered_at == call.replied_at == call.occurred_at == when
    assert call.opened_at is None and call.clicked_at is None
    assert call.staff_user == staff and call.campaign is None


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"channel": "pigeon"}, "channel", "Choose a channel."),
        ({"direction": "sideways"}, "direction", "Choose inbound or outbound."),
        ({"purpose": "gossip"}, "purpose", "Choose a purpose."),
        ({"status": Status.OPENED}, "status", "A logged outbound contact is"),
        ({"direction": "inbound", "status": Status.FAILED}, "status", "inbound contact is"),
        ({"occurred_at": timezone.now() + timedelta(days=1)}, "occurred_at", "in the future"),
        ({"subject": "x" * 201}, "subject", "at most 200"),
    ],
)
def test_a_bad_log_entry_is_refused_on_its_field_and_nothing_is_written(fields, field, message):
    values = {
        "customer": CustomerFactory(),
        "channel": "phone",
        "direction": "outbound",
        "purpose": "support",
        "status": Status.SENT,
        **fields,
    }

    with pytest.raises(ValidationError) as refused:
        communication_log(**values)

    assert message in " ".join(refused.value.message_dict[field])
    assert not Communication.objects.exists()
