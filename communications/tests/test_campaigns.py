"""Campaign services: drafts, the lifecycle, the preview of who receives it, and the start."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from communications import campaigns
from communications.models import Campaign, Channel, Communication, Purpose, SkipReason
from communications.tests.factories import CampaignFactory, TemplateFactory
from customers.tests.factories import CustomerFactory, UserFactory
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status
MessageStatus = Communication.Status


def segment_of(*customers):
    """A segment holding exactly these customers (added by hand, no rules)."""
    segment = SegmentFactory(rules={})
    for customer in customers:
        SegmentMembershipFactory(segment=segment, customer=customer)
    return segment


def consenting(**fields):
    return CustomerFactory(**{"accepts_email": True, "accepts_sms": True, **fields})


def sending(campaign: Campaign) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=Status.SENDING)
    campaign.refresh_from_db()
    return campaign


# --- Drafts ---------------------------------------------------------------------------------------


def test_a_draft_is_created_with_its_own_message():
    segment = segment_of()
    user = UserFactory()

    campaign = campaigns.campaign_create(
        name=" Spring sale ",
        segment=segment,
        channel=Channel.EMAIL,
        subject="Spring at {{ shop_name }}",
        body="Hello {{ customer.first_name }}",
        holdout_percent=10,
        created_by=user,
    )

    assert campaign.status == Status.DRAFT
    assert (campaign.name, campaign.holdout_percent, campaign.created_by) == (
        "Spring sale",
        10,
        user,
    )


def test_a_draft_with_a_syntax_error_or_an_unknown_variable_is_refused_on_the_body():
    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_create(
            name="Broken",
            segment=segment_of(),
            channel=Channel.EMAIL,
            subject="Hello",
            body="Hello {{ customer.orders.all }} {% if %}",
        )

    assert "body" in refused.value.message_dict


def test_an_email_draft_needs_a_subject_and_a_body():
    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_create(
            name="Empty", segment=segment_of(), channel=Channel.EMAIL, subject="", body=""
        )

    assert {"subject", "body"} <= set(refused.value.message_dict)


def test_an_sms_draft_needs_no_subject():
    campaign = campaigns.campaign_create(
        name="Text", segment=segment_of(), channel=Channel.SMS, body="Sale today"
    )

    assert campaign.subject == ""


def test_a_template_of_another_channel_is_refused():
    template = TemplateFactory(channel=Channel.SMS, subject="", body="Hi")

    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_create(
            name="Mixed", segment=segment_of(), channel=Channel.EMAIL, template=template
        )

    assert "template" in refused.value.message_dict


def test_a_holdout_over_half_is_refused():
    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_create(
            name="Too many held",
            segment=segment_of(),
            channel=Channel.SMS,
            body="Hi",
            holdout_percent=60,
        )

    assert "holdout_percent" in refused.value.message_dict


def test_only_a_draft_is_changed():
    campaign = CampaignFactory(status=Status.SCHEDULED)

    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_update(campaign=campaign, name="New name")

    assert "status" in refused.value.message_dict


def test_a_draft_is_changed_and_checked():
    campaign = CampaignFactory()

    changed = campaigns.campaign_update(campaign=campaign, name="Autumn", holdout_percent=5)

    assert (changed.name, changed.holdout_percent) == ("Autumn", 5)
    with pytest.raises(ValidationError):
        campaigns.campaign_update(campaign=campaign, body="Hello {{ nope }}")


# --- The lifecycle --------------------------------------------------------------------------------


def test_a_draft_is_scheduled_in_the_future_only():
    campaign = CampaignFactory()

    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_schedule(campaign=campaign, at=timezone.now() - timedelta(minutes=1))
    assert "scheduled_at" in refused.value.message_dict

    at = timezone.now() + timedelta(hours=2)
    campaigns.campaign_schedule(campaign=campaign, at=at)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (Status.SCHEDULED, at)


def test_a_scheduled_campaign_goes_back_to_draft_or_is_cancelled():
    campaign = CampaignFactory(status=Status.SCHEDULED, scheduled_at=timezone.now())

    campaigns.campaign_unschedule(campaign=campaign)
    assert Campaign.objects.get(pk=campaign.pk).status == Status.DRAFT

    campaigns.campaign_schedule(campaign=campaign, at=timezone.now() + timedelta(days=1))
    campaigns.campaign_cancel(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.CANCELLED
    assert campaign.finished_at is not None


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (Status.DRAFT, Status.SENT),
        (Status.DRAFT, Status.CANCELLED),
        (Status.SENT, Status.SENDING),
        (Status.CANCELLED, Status.SCHEDULED),
        (Status.FAILED, Status.SENDING),
        (Status.SENDING, Status.DRAFT),
    ],
)
def test_moves_outside_the_lifecycle_are_refused(start, target):
    campaign = CampaignFactory(status=start)

    with pytest.raises(ValidationError) as refused:
        campaigns.campaign_transition(campaign=campaign, status=target)

    assert "status" in refused.value.message_dict
    assert Campaign.objects.get(pk=campaign.pk).status == start


def test_a_sent_campaign_cannot_be_cancelled():
    campaign = CampaignFactory(status=Status.SENT)

    with pytest.raises(ValidationError):
        campaigns.campaign_cancel(campaign=campaign)


# --- The preview and the start: who receives it ---------------------------------------------------


def test_each_exclusion_reason_is_counted_and_recorded_at_the_start():
    receives = consenting()
    not_to_contact = consenting(do_not_contact=True)
    no_consent = consenting(accepts_email=False)
    no_offers = consenting(can_receive_offers=False)
    no_address = consenting(email="")
    segment = segment_of(receives, not_to_contact, no_consent, no_offers, no_address)
    campaign = CampaignFactory(segment=segment, channel=Channel.EMAIL, purpose=Purpose.MARKETING)

    preview = campaigns.campaign_preview(campaign=campaign)

    assert preview.total == 5
    assert preview.excluded == {
        SkipReason.DO_NOT_CONTACT: 1,
        SkipReason.NO_CONSENT: 1,
        SkipReason.NO_OFFERS: 1,
        SkipReason.NO_ADDRESS: 1,
    }
    assert (preview.eligible, preview.receiving, preview.holdout) == (1, 1, 0)

    campaigns.campaign_start(campaign=sending(campaign))

    messages = {m.customer_id: m for m in Communication.objects.filter(campaign=campaign)}
    assert messages[receives.pk].status == MessageStatus.QUEUED
    assert messages[receives.pk].recipient == receives.email
    assert messages[receives.pk].queued_at is not None
    for customer, reason in (
        (not_to_contact, SkipReason.DO_NOT_CONTACT),
        (no_consent, SkipReason.NO_CONSENT),
        (no_offers, SkipReason.NO_OFFERS),
        (no_address, SkipReason.NO_ADDRESS),
    ):
        message = messages[customer.pk]
        assert (message.status, message.skip_reason) == (MessageStatus.SKIPPED, reason)
        assert message.skipped_at is not None
        assert message.recipient == ""
    campaign.refresh_from_db()
    assert (campaign.recipients_count, campaign.skipped_count, campaign.held_out_count) == (
        5,
        4,
        0,
    )


def test_offers_are_not_asked_of_a_message_that_is_not_marketing():
    customer = consenting(can_receive_offers=False)
    campaign = CampaignFactory(segment=segment_of(customer), purpose=Purpose.LOYALTY)

    preview = campaigns.campaign_preview(campaign=campaign)

    assert preview.excluded_total == 0
    assert SkipReason.NO_OFFERS not in preview.excluded


def test_sms_asks_for_sms_consent_and_a_phone_number():
    texts = consenting(phone="+14155550100")
    no_sms = consenting(phone="+14155550101", accepts_sms=False)
    no_phone = consenting(phone="")
    campaign = CampaignFactory(
        segment=segment_of(texts, no_sms, no_phone), channel=Channel.SMS, subject=""
    )

    campaigns.campaign_start(campaign=sending(campaign))

    messages = {m.customer_id: m for m in Communication.objects.filter(campaign=campaign)}
    assert messages[texts.pk].recipient == "+14155550100"
    assert messages[no_sms.pk].skip_reason == SkipReason.NO_CONSENT
    assert messages[no_phone.pk].skip_reason == SkipReason.NO_ADDRESS


def test_the_first_reason_is_the_one_recorded():
    customer = consenting(do_not_contact=True, accepts_email=False, email="")
    campaign = CampaignFactory(segment=segment_of(customer))

    preview = campaigns.campaign_preview(campaign=campaign)

    assert preview.excluded[SkipReason.DO_NOT_CONTACT] == 1
    assert preview.excluded_total == 1


def test_the_control_group_is_the_share_of_the_eligible_drawn_at_random():
    customers = [consenting() for _ in range(40)]
    skipped = [consenting(do_not_contact=True) for _ in range(5)]
    campaign = CampaignFactory(segment=segment_of(*customers, *skipped), holdout_percent=25)

    preview = campaigns.campaign_preview(campaign=campaign)
    assert (preview.eligible, preview.holdout, preview.receiving) == (40, 10, 30)

    campaigns.campaign_start(campaign=sending(campaign))

    by_status = {
        status: Communication.objects.filter(campaign=campaign, status=status).count()
        for status in (MessageStatus.QUEUED, MessageStatus.HELD_OUT, MessageStatus.SKIPPED)
    }
    assert by_status == {
        MessageStatus.QUEUED: 30,
        MessageStatus.HELD_OUT: 10,
        MessageStatus.SKIPPED: 5,
    }
    held = Communication.objects.filter(campaign=campaign, status=MessageStatus.HELD_OUT)
    assert not held.filter(customer__do_not_contact=True).exists()
    campaign.refresh_from_db()
    assert campaign.held_out_count == 10


def test_two_draws_differ():
    customers = [consenting() for _ in range(60)]
    drawn = []
    for _ in range(2):
        campaign = CampaignFactory(segment=segment_of(*customers), holdout_percent=50)
        campaigns.campaign_start(campaign=sending(campaign))
        drawn.append(
            set(
                Communication.objects.filter(
                    campaign=campaign, status=MessageStatus.HELD_OUT
                ).values_list("customer_id", flat=True)
            )
        )

    assert len(drawn[0]) == len(drawn[1]) == 30
    assert drawn[0] != drawn[1]  # the odds of the same 30 of 60 twice are 1 in 10^17


def test_the_start_happens_once():
    customer = consenting()
    campaign = sending(CampaignFactory(segment=segment_of(customer), holdout_percent=0))

    assert campaigns.campaign_start(campaign=campaign) is True
    SegmentMembershipFactory(segment=campaign.segment, customer=consenting())
    assert campaigns.campaign_start(campaign=campaign) is False

    assert Communication.objects.filter(campaign=campaign).count() == 1


@pytest.mark.postgres
def test_after_the_start_the_planner_learns_of_the_new_messages(django_capture_on_commit_callbacks):
    campaign = sending(CampaignFactory(segment=segment_of(consenting()), holdout_percent=0))

    with django_capture_on_commit_callbacks() as callbacks:
        campaigns.campaign_start(campaign=campaign)
    with CaptureQueriesContext(connection) as ran:
        for callback in callbacks:
            callback()

    assert [query["sql"] for query in ran.captured_queries] == [
        'ANALYZE "communications_communication"'
    ]


def test_a_draft_is_not_started():
    campaign = CampaignFactory(segment=segment_of(consenting()))

    assert campaigns.campaign_start(campaign=campaign) is False
    assert not Communication.objects.filter(campaign=campaign).exists()


def test_the_preview_is_one_query(assert_queries):
    campaign = CampaignFactory(segment=segment_of(consenting(), consenting(do_not_contact=True)))
    campaign = Campaign.objects.select_related("segment").get(pk=campaign.pk)

    with assert_queries(1):
        preview = campaigns.campaign_preview(campaign=campaign)

    assert preview.total == 2


def test_the_figures_give_each_rate_of_its_base():
    campaign = CampaignFactory(
        recipients_count=100,
        skipped_count=10,
        held_out_count=10,
        sent_count=80,
        delivered_count=40,
        opened_count=20,
        clicked_count=10,
    )

    figures = {figure.key: figure for figure in campaigns.campaign_figures(campaign)}

    assert figures["sent"].percent == 100.0
    assert figures["delivered"].percent == 50.0
    assert figures["opened"].percent == 50.0
    assert figures["clicked"].percent == 25.0
    assert figures["skipped"].percent == 10.0
    assert figures["held_out"].percent == 10.0


def test_a_scheduled_campaign_is_given_a_new_time():
    campaign = CampaignFactory(status=Status.SCHEDULED, scheduled_at=timezone.now())
    later = timezone.now() + timedelta(days=2)

    campaigns.campaign_schedule(campaign=campaign, at=later)

    campaign.refresh_from_db()
    assert (campaign.status, campaign.scheduled_at) == (Status.SCHEDULED, later)


def test_many_messages_advance_at_once_counting_each_step_passed_once():
    from communications.services import communications_advance_many
    from communications.tests.factories import CommunicationFactory

    campaign = CampaignFactory(status=Status.SENDING)
    queued = [CommunicationFactory(campaign=campaign) for _ in range(3)]
    already_sent = CommunicationFactory(campaign=campaign, status=MessageStatus.SENT)
    skipped = CommunicationFactory(campaign=campaign, status=MessageStatus.SKIPPED)

    moved = communications_advance_many(
        communication_ids=[m.pk for m in (*queued, already_sent, skipped)],
        status=MessageStatus.SENT,
    )

    assert moved == 3
    campaign.refresh_from_db()
    assert campaign.sent_count == 3
    assert Communication.objects.get(pk=skipped.pk).status == MessageStatus.SKIPPED
    assert all(
        m.sent_at is not None for m in Communication.objects.filter(pk__in=[q.pk for q in queued])
    )
