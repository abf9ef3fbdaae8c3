"""The demo communications: a lived-in history whose counters agree with their messages."""

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from communications import demo
from communications.attribution import campaign_results
from communications.models import Attribution, Campaign, Communication, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    call_command("seed_demo", customers=300, orders=1500)


def test_the_demo_sends_campaigns_whose_counters_match_their_messages(seeded):
    """Three campaigns, every outcome among their messages, one with a control group."""
    campaigns = Campaign.objects.filter(name__in=[spec.name for spec in demo.CAMPAIGNS])

    assert campaigns.count() == len(demo.CAMPAIGNS)
    for campaign in campaigns:
        counted = Communication.objects.filter(campaign=campaign).aggregate(
            recipients=Count("pk"),
            sent=Count("pk", filter=Q(sent_at__isnull=False)),
            delivered=Count("pk", filter=Q(delivered_at__isnull=False)),
            opened=Count("pk", filter=Q(opened_at__isnull=False)),
            clicked=Count("pk", filter=Q(clicked_at__isnull=False)),
            failed=Count("pk", filter=Q(status__in=["failed", "bounced"])),
            skipped=Count("pk", filter=Q(status="skipped")),
            held_out=Count("pk", filter=Q(status="held_out")),
        )
        kept = {name: getattr(campaign, f"{name}_count") for name in counted}
        assert kept == counted, campaign.name
        assert campaign.status == "sent" and campaign.finished_at
    statuses = set(
        Communication.objects.filter(campaign__in=campaigns).values_list("status", flat=True)
    )
    assert {"sent", "delivered", "opened", "clicked", "failed", "bounced", "skipped"} <= statuses

    assert_the_control_group_campaign_earned_orders()


def assert_the_control_group_campaign_earned_orders():
    campaign = Campaign.objects.get(holdout_percent__gt=0)

    results = campaign_results(campaign)

    assert campaign.held_out_count > 0
    assert results["orders"] > 0 and results["revenue"] > 0
    assert results["comparison"]["control"].size == campaign.held_out_count
    assert Attribution.objects.filter(campaign=campaign, held_out=True).exists() or (
        results["comparison"]["control"].converted == 0
    )


def test_the_demo_logs_contacts_and_opens_tickets_once(seeded, capsys):
    logged = Communication.objects.filter(campaign__isnull=True, ticket__isnull=True)
    assert logged.filter(staff_user__isnull=False).count() > 10
    assert set(logged.values_list("direction", flat=True)) == {"inbound", "outbound"}
    open_tickets = Ticket.objects.filter(status__in=["open", "pending"])
    assert open_tickets.count() == len(demo.TICKETS)
    assert all(ticket.messages.filter(purpose="support").exists() for ticket in open_tickets)

    call_command("seed_demo", customers=300, orders=1500)

    assert "demo communications are already loaded" in capsys.readouterr().out
    assert Campaign.objects.count() == len(demo.CAMPAIGNS)
