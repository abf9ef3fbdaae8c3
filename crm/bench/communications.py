"""The `communications` section of `make bench`: a campaign to a segment of a tenth of the
customers (100,000 at the reference size) started, sent, and its page requested.

- **start**: ``campaign_start``, the recipient rows created in one INSERT … SELECT with the
  exclusions recorded and a control group of 10% drawn;
- **send**: ``campaign_send_batches`` as the Celery task runs it, one worker in this process,
  through Django's locmem email backend (it accepts at once; its outbox is emptied after each
  batch so that it does not hold 100,000 messages), no rate limit; peak memory measured;
- **page**: the campaign's page, as the pages section times its pages (``_timed``);
- **log pages**: the log of contacts (``/communications/``), whole and filtered, while the
  campaign's messages are in it.

The campaign, its messages and its segment are deleted afterwards, so the data set is left as
it was.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.test import Client, override_settings
from django.urls import reverse

from crm.bench.dataset import DatasetSpec, peak_rss_mb
from crm.bench.pages import DETAIL_MS, LIST_MS, LIST_QUERIES, _timed

CAMPAIGN_MEMBERS = 100_000  # at the reference size; a tenth of the customers at other sizes
START_SECONDS = 30
SEND_PER_SECOND = 500
PAGE_MS = DETAIL_MS
PAGE_QUERIES = 10
HOLDOUT_PERCENT = 10
# The log pages timed while the campaign's messages are in the log: {key: query string}.
LOG_PAGES = {
    "all": "",
    "email_sent": "?channel=email&status=sent",
    "marketing_outbound": "?purpose=marketing&direction=outbound",
    "skipped": "?status=skipped",
}


class AcceptingEmailBackend(LocmemBackend):
    """Django's locmem backend, counting what it accepted and forgetting it at once."""

    accepted = 0

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        AcceptingEmailBackend.accepted += sent
        mail.outbox.clear()
        return sent


def measure_communications(spec: DatasetSpec) -> dict:
    from communications.campaigns import campaign_send_batches, campaign_start
    from communications.models import Campaign, Channel, Purpose
    from customers.models import Customer
    from segments.models import Segment

    wanted = min(CAMPAIGN_MEMBERS, max(1, spec.customers // 10))
    threshold = Customer.objects.order_by("-total_spent").values_list("total_spent", flat=True)[
        wanted - 1
    ]
    segment, _ = Segment.objects.update_or_create(
        name="Bench: campaign audience",
        defaults={
            "rules": {
                "match": "all",
                "conditions": [{"field": "total_spent", "op": "gte", "value": str(threshold)}],
            }
        },
    )
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    campaign = Campaign.objects.create(
        name="Bench campaign",
        channel=Channel.EMAIL,
        purpose=Purpose.MARKETING,
        subject="News from {{ shop_name }}",
        body="Hello {{ customer.first_name }}, our spring sale starts today: "
        "https://shop.example.com/sale\n\nUnsubscribe: {{ unsubscribe_url }}",
        segment=segment,
        holdout_percent=HOLDOUT_PERCENT,
        status=Campaign.Status.SENDING,
        created_by=user,
    )
    try:
        began = time.perf_counter()
        campaign_start(campaign=campaign)
        start_seconds = time.perf_counter() - began
        campaign.refresh_from_db()

        baseline_mb = peak_rss_mb()
        AcceptingEmailBackend.accepted = 0
        with override_settings(
            EMAIL_BACKEND="crm.bench.communications.AcceptingEmailBackend",
            CRM_CAMPAIGN_RATE_LIMITS={"email": 0, "sms": 0},
        ):
            began = time.perf_counter()
            outcome = campaign_send_batches(campaign_id=campaign.pk)
            send_seconds = time.perf_counter() - began
        campaign.refresh_from_db()

        client = Client()
        client.force_login(user)
        url = reverse("communications:campaign", args=[campaign.pk])
        log_pages = {}
        with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
            median, status, queries = _timed(client, url)
            for key, query in LOG_PAGES.items():
                log_url = reverse("communications:log") + query
                log_median, log_status, log_queries = _timed(client, log_url)
                log_pages[key] = {
                    "url": log_url,
                    "median_ms": log_median,
                    "status": log_status,
                    "queries": log_queries,
                    "budget_ms": LIST_MS,
                    "budget_queries": LIST_QUERIES,
                }
        return {
            "status": "succeeded",
            "members": segment.customers().count(),
            "start_seconds": round(start_seconds, 2),
            "recipients": campaign.recipients_count,
            "skipped": campaign.skipped_count,
            "held_out": campaign.held_out_count,
            "send_seconds": round(send_seconds, 2),
            "sent": outcome.sent,
            "accepted_by_backend": AcceptingEmailBackend.accepted,
            "emails_per_second": round(outcome.sent / send_seconds) if send_seconds else None,
            "batch": settings.CRM_CAMPAIGN_BATCH,
            "finished": outcome.finished,
            "baseline_rss_mb": baseline_mb,
            "peak_rss_mb": peak_rss_mb(),
            "page": {
                "url": url,
                "median_ms": median,
                "status": status,
                "queries": queries,
                "budget_ms": PAGE_MS,
                "budget_queries": PAGE_QUERIES,
            },
            "log_pages": log_pages,
        }
    finally:
        campaign.delete()
        segment.delete()


def summarize_communications(results: dict[int, dict]) -> dict:
    from crm.bench.sections import REFERENCE_CUSTOMERS, REFERENCE_ORDERS

    reference = results.get(REFERENCE_CUSTOMERS) or {}
    budgets = {}
    if reference.get("status") == "succeeded":
        page = reference["page"]
        budgets = {
            "campaign_start_seconds": {
                "budget": START_SECONDS,
                "measured": reference["start_seconds"],
                "passed": reference["start_seconds"] <= START_SECONDS,
            },
            "campaign_send_emails_per_second": {
                "budget": SEND_PER_SECOND,
                "measured": reference["emails_per_second"],
                "passed": (reference["emails_per_second"] or 0) >= SEND_PER_SECOND,
            },
            "campaign_page_ms": {
                "budget": page["budget_ms"],
                "measured": page["median_ms"],
                "passed": page["status"] == 200 and page["median_ms"] <= page["budget_ms"],
            },
            "campaign_page_queries": {
                "budget": page["budget_queries"],
                "measured": page["queries"],
                "passed": page["queries"] <= page["budget_queries"],
            },
        }
        for key, log_page in (reference.get("log_pages") or {}).items():
            budgets[f"log_page_{key}_ms"] = {
                "budget": log_page["budget_ms"],
                "measured": log_page["median_ms"],
                "passed": log_page["status"] == 200
                and log_page["median_ms"] <= log_page["budget_ms"],
            }
            budgets[f"log_page_{key}_queries"] = {
                "budget": log_page["budget_queries"],
                "measured": log_page["queries"],
                "passed": log_page["queries"] <= log_page["budget_queries"],
            }
    return {
        "budgets": budgets,
        "budgets_at": {"customers": REFERENCE_CUSTOMERS, "orders": REFERENCE_ORDERS},
        **({} if reference else {"note": "Measured only at the reference size."}),
        **(
            {"memory": {"peak_rss_mb": reference.get("peak_rss_mb")}}
            if reference.get("peak_rss_mb")
            else {}
        ),
    }
