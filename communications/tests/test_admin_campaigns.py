"""The campaign admin: drafts written through the services, the send now / schedule / cancel
actions, the counters read-only."""

from datetime import timedelta

import pytest
from django.contrib.admin import helpers
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from communications.models import Campaign, Channel
from communications.tests.factories import CampaignFactory
from customers.tests.factories import CustomerFactory, UserFactory
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status
CHANGELIST = "admin:communications_campaign_changelist"


@pytest.fixture(autouse=True)
def unpaced(settings):
    settings.CRM_CAMPAIGN_RATE_LIMITS = {"email": 0, "sms": 0}


@pytest.fixture
def admin_client_of_marketing(client):
    from django.contrib.auth.models import Group

    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name="Marketing"))
    client.force_login(user)
    return client


def act(client, action: str, campaigns, **data):
    return client.post(
        reverse(CHANGELIST),
        {
            "action": action,
            helpers.ACTION_CHECKBOX_NAME: [campaign.pk for campaign in campaigns],
            **data,
        },
        follow=True,
    )


def test_the_changelist_lists_campaigns(admin_client_of_marketing):
    CampaignFactory(name="Spring sale")

    response = admin_client_of_marketing.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert "Spring sale" in response.text


def test_send_now_sends_a_draft_and_says_why_a_sent_one_is_refused(
    admin_client_of_marketing, django_capture_on_commit_callbacks
):
    segment = SegmentFactory(rules={})
    SegmentMembershipFactory(segment=segment, customer=CustomerFactory(accepts_email=True))
    draft = CampaignFactory(segment=segment)
    done = CampaignFactory(status=Status.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        response = act(admin_client_of_marketing, "send_now", [draft, done])

    assert Campaign.objects.get(pk=draft.pk).status == Status.SENT
    assert len(mail.outbox) == 1
    assert "1 campaign(s) being sent." in response.text
    assert f"{done.name}: A campaign that is sent cannot be made sending." in response.text


def test_schedule_asks_when_then_schedules(admin_client_of_marketing):
    draft = CampaignFactory()

    asked = act(admin_client_of_marketing, "schedule", [draft])
    assert "Send at" in asked.text
    assert Campaign.objects.get(pk=draft.pk).status == Status.DRAFT

    at = timezone.localtime() + timedelta(days=1)
    act(
        admin_client_of_marketing,
        "schedule",
        [draft],
        apply="Schedule",
        scheduled_at_0=at.strftime("%Y-%m-%d"),
        scheduled_at_1=at.strftime("%H:%M:%S"),
    )

    draft.refresh_from_db()
    assert draft.status == Status.SCHEDULED


def test_schedule_in_the_past_is_asked_again_with_the_reason(admin_client_of_marketing):
    draft = CampaignFactory()

    response = act(
        admin_client_of_marketing,
        "schedule",
        [draft],
        apply="Schedule",
        scheduled_at_0="2001-01-01",
        scheduled_at_1="10:00:00",
    )

    assert "Choose a time in the future." in response.text
    assert Campaign.objects.get(pk=draft.pk).status == Status.DRAFT


def test_cancel_stops_a_scheduled_campaign(admin_client_of_marketing):
    scheduled = CampaignFactory(status=Status.SCHEDULED, scheduled_at=timezone.now())

    act(admin_client_of_marketing, "cancel", [scheduled])

    assert Campaign.objects.get(pk=scheduled.pk).status == Status.CANCELLED


def test_the_counters_are_read_only(admin_client_of_marketing):
    campaign = CampaignFactory(sent_count=7)

    response = admin_client_of_marketing.get(
        reverse("admin:communications_campaign_change", args=[campaign.pk])
    )

    assert response.status_code == 200
    assert 'name="sent_count"' not in response.text
    assert 'name="name"' in response.text  # a draft's own fields are editable


def test_a_sent_campaign_is_read_only(admin_client_of_marketing):
    campaign = CampaignFactory(status=Status.SENT)

    response = admin_client_of_marketing.get(
        reverse("admin:communications_campaign_change", args=[campaign.pk])
    )

    assert 'name="name"' not in response.text


def test_a_draft_added_in_admin_is_checked_by_the_services(admin_client_of_marketing):
    segment = SegmentFactory(rules={})
    form = {
        "name": "Admin draft",
        "segment": segment.pk,
        "channel": Channel.EMAIL,
        "purpose": "marketing",
        "subject": "Hello",
        "body": "Hello {{ customer.orders.all }}",
        "holdout_percent": 0,
    }

    refused = admin_client_of_marketing.post(reverse("admin:communications_campaign_add"), form)
    assert refused.status_code == 200
    assert not Campaign.objects.filter(name="Admin draft").exists()

    form["body"] = "Hello {{ customer.first_name }}"
    admin_client_of_marketing.post(reverse("admin:communications_campaign_add"), form)
    created = Campaign.objects.get(name="Admin draft")
    assert created.status == Status.DRAFT
    assert created.created_by is not None
