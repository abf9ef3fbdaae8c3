"""The campaign pages: list, draft form, preview with its actions, the campaign's page."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from communications import campaigns
from communications.models import Campaign, Channel, Communication
from communications.tests.factories import CampaignFactory
from customers.tests.factories import CustomerFactory
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status


@pytest.fixture(autouse=True)
def unpaced(settings):
    settings.CRM_CAMPAIGN_RATE_LIMITS = {"email": 0, "sms": 0}


@pytest.fixture
def marketing(client_in_group):
    return client_in_group("Marketing")


def segment_of(count: int, **fields):
    segment = SegmentFactory(rules={})
    for _ in range(count):
        SegmentMembershipFactory(
            segment=segment, customer=CustomerFactory(**{"accepts_email": True, **fields})
        )
    return segment


def sent_campaign(count: int = 3, **fields) -> Campaign:
    campaign = CampaignFactory(segment=segment_of(count), status=Status.SENDING, **fields)
    campaigns.campaign_send_batches(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    return campaign


def test_the_list_shows_campaigns_to_marketing(marketing):
    CampaignFactory(name="Spring sale")

    response = marketing.get(reverse("communications:campaigns"))

    assert response.status_code == 200
    assert "Spring sale" in response.text
    assert 'href="/communications/campaigns/new/"' in response.text
    assert ">Campaigns</a>" in response.text  # the navigation item


def test_support_may_not_open_campaigns(client_in_group):
    client = client_in_group("Support")

    assert client.get(reverse("communications:campaigns")).status_code == 403
    assert client.get(reverse("communications:campaign_add")).status_code == 403


def test_a_visitor_is_sent_to_log_in(client):
    response = client.get(reverse("communications:campaigns"))

    assert response.status_code == 302
    assert "/accounts/login/" in response.url


def test_a_new_draft_is_saved_and_previewed(marketing):
    segment = segment_of(2)

    response = marketing.post(
        reverse("communications:campaign_add"),
        {
            "name": "Spring sale",
            "segment": segment.pk,
            "channel": Channel.EMAIL,
            "purpose": "marketing",
            "subject": "Spring at {{ shop_name }}",
            "body": "Hello {{ customer.first_name }}",
            "holdout_percent": 0,
        },
    )

    campaign = Campaign.objects.get(name="Spring sale")
    assert response.status_code == 302
    assert response.url == reverse("communications:campaign_preview", args=[campaign.pk])
    assert campaign.status == Status.DRAFT


def test_a_draft_with_an_unknown_variable_is_shown_again_with_the_error_on_the_message(marketing):
    segment = segment_of(1)

    response = marketing.post(
        reverse("communications:campaign_add"),
        {
            "name": "Broken",
            "segment": segment.pk,
            "channel": Channel.EMAIL,
            "purpose": "marketing",
            "subject": "Hello",
            "body": "Hello {{ customer.orders.all }}",
            "holdout_percent": 0,
        },
    )

    assert response.status_code == 200
    assert response.context["form"].errors["body"]
    assert 'id="error-summary"' in response.text
    assert not Campaign.objects.filter(name="Broken").exists()


def test_a_sent_campaign_is_not_edited(marketing):
    campaign = CampaignFactory(status=Status.SENT)

    response = marketing.get(reverse("communications:campaign_edit", args=[campaign.pk]))

    assert response.status_code == 302
    assert response.url == reverse("communications:campaign", args=[campaign.pk])


def test_the_preview_counts_who_receives_it_and_why_others_do_not(marketing):
    segment = segment_of(3)
    SegmentMembershipFactory(segment=segment, customer=CustomerFactory(do_not_contact=True))
    SegmentMembershipFactory(segment=segment, customer=CustomerFactory(accepts_email=False))
    campaign = CampaignFactory(segment=segment)

    response = marketing.get(reverse("communications:campaign_preview", args=[campaign.pk]))

    preview = response.context["preview"]
    assert (preview.total, preview.excluded_total, preview.receiving) == (5, 2, 3)
    assert 'id="preview-receiving">3<' in response.text
    assert 'id="preview-excluded-do_not_contact">1<' in response.text
    assert "Send now" in response.text


def test_send_now_from_the_preview_sends_and_shows_the_campaign_page(
    marketing, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(segment=segment_of(3))

    with django_capture_on_commit_callbacks(execute=True):
        response = marketing.post(reverse("communications:campaign_send", args=[campaign.pk]))

    assert response.url == reverse("communications:campaign", args=[campaign.pk])
    assert len(mail.outbox) == 3
    page = marketing.get(response.url)
    assert 'id="figure-sent"' in page.text
    assert page.context["campaign"].sent_count == 3


def test_a_campaign_is_scheduled_from_the_preview(marketing):
    campaign = CampaignFactory(segment=segment_of(1))
    at = timezone.localtime() + timedelta(days=1)

    response = marketing.post(
        reverse("communications:campaign_schedule", args=[campaign.pk]),
        {"scheduled_at": at.strftime("%Y-%m-%dT%H:%M")},
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED
    assert campaign.scheduled_at.replace(second=0, microsecond=0) == at.replace(
        second=0, microsecond=0
    )


def test_a_time_in_the_past_is_refused_on_the_field(marketing):
    campaign = CampaignFactory(segment=segment_of(1))

    response = marketing.post(
        reverse("communications:campaign_schedule", args=[campaign.pk]),
        {"scheduled_at": "2001-01-01T10:00"},
    )

    assert response.status_code == 200
    assert "Choose a time in the future." in response.text
    assert Campaign.objects.get(pk=campaign.pk).status == Status.DRAFT


def test_a_scheduled_campaign_is_cancelled(marketing):
    campaign = CampaignFactory(status=Status.SCHEDULED, scheduled_at=timezone.now())

    marketing.post(reverse("communications:campaign_cancel", args=[campaign.pk]))

    assert Campaign.objects.get(pk=campaign.pk).status == Status.CANCELLED


def test_cancelling_a_sent_campaign_says_why_not(marketing):
    campaign = CampaignFactory(status=Status.SENT)

    response = marketing.post(
        reverse("communications:campaign_cancel", args=[campaign.pk]), follow=True
    )

    assert "cannot be made cancelled" in response.text
    assert Campaign.objects.get(pk=campaign.pk).status == Status.SENT


def test_viewing_only_shows_no_actions(client_with_perms):
    client = client_with_perms("communications.view_campaign")
    campaign = CampaignFactory()

    response = client.get(reverse("communications:campaign_preview", args=[campaign.pk]))

    assert response.status_code == 200
    assert "Send now" not in response.text
    send = reverse("communications:campaign_send", args=[campaign.pk])
    assert client.post(send).status_code == 403


def test_the_campaign_page_lists_recipients_filtered_by_status(marketing):
    campaign = sent_campaign(3)
    skipped = CustomerFactory(first_name="Nadia", do_not_contact=True)
    Communication.objects.create(
        campaign=campaign,
        customer=skipped,
        channel=Channel.EMAIL,
        purpose="marketing",
        status=Communication.Status.SKIPPED,
        skip_reason="do_not_contact",
        occurred_at=timezone.now(),
    )
    Campaign.objects.filter(pk=campaign.pk).update(recipients_count=4, skipped_count=1)

    everyone = marketing.get(reverse("communications:campaign", args=[campaign.pk]))
    only_skipped = marketing.get(
        reverse("communications:campaign", args=[campaign.pk]), {"status": "skipped"}
    )

    assert len(everyone.context["recipients"]) == 4
    assert [m.customer_id for m in only_skipped.context["recipients"]] == [skipped.pk]
    assert "Do not contact" in only_skipped.text
    bad = marketing.get(reverse("communications:campaign", args=[campaign.pk]), {"status": "x"})
    assert bad.status_code == 200


def test_the_campaign_page_shows_the_counts_with_rates(marketing):
    campaign = sent_campaign(4)

    response = marketing.get(reverse("communications:campaign", args=[campaign.pk]))

    figures = {figure.key: figure for figure in response.context["figures"]}
    assert (figures["recipients"].count, figures["sent"].count) == (4, 4)
    assert figures["sent"].percent == 100.0


def test_the_campaign_page_queries_are_pinned(marketing, assert_queries):
    campaign = sent_campaign(5)
    url = reverse("communications:campaign", args=[campaign.pk])
    marketing.get(url)  # the session and permissions warmed as on any later visit

    with assert_queries(EXPECTED_CAMPAIGN_PAGE_QUERIES):
        response = marketing.get(url)
    assert response.status_code == 200

    more = sent_campaign(60)
    with assert_queries(EXPECTED_CAMPAIGN_PAGE_QUERIES):
        marketing.get(reverse("communications:campaign", args=[more.pk]))
    with assert_queries(EXPECTED_CAMPAIGN_PAGE_QUERIES + 1):  # a status is counted (capped)
        marketing.get(reverse("communications:campaign", args=[more.pk]), {"status": "sent"})


# The session, the user with their permissions, the campaign, what it earned (two queries), the
# page of recipients with their customers.
EXPECTED_CAMPAIGN_PAGE_QUERIES = 6
