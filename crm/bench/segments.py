"""The `segments` section of `make bench`: counting every segment, and each pre-built segment's
page with its members, timed through the full middleware stack with DEBUG off.

The refresh (`segments_refresh_all`) is timed once. Each member page is requested as the pages
section requests its pages (``crm.bench.pages._timed``: a warm-up, then the median of
``REQUESTS``, with the queries of one more request). The budgets are those of DESIGN.md section
6, judged at the reference size.
"""

import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from crm.bench.dataset import DatasetSpec
from crm.bench.pages import DETAIL_MS, LIST_QUERIES, _timed

# A segment's page lists its members: the list's query budget, and the detail page's time.
MEMBER_PAGE_MS, MEMBER_PAGE_QUERIES = DETAIL_MS, LIST_QUERIES
REFRESH_ALL_SECONDS = 30
BULK_TAG_MEMBERS = 100_000  # at the reference size; a tenth of the customers at other sizes
BULK_TAG_SECONDS = 20


def _scored(spec: DatasetSpec) -> dict | None:
    """Score the data set once if no analytics run has succeeded on it: the score-based segments
    (VIP, At risk) would otherwise be empty. Returns what that run reported, if one was made."""
    from crm.bench.sections import measure_analytics
    from customers.models import AnalyticsRun

    if AnalyticsRun.objects.filter(status=AnalyticsRun.Status.SUCCEEDED).exists():
        return None
    return measure_analytics(spec)


def measure_segments(spec: DatasetSpec) -> dict:
    from segments.models import Segment
    from segments.services import segments_refresh_all

    scoring = _scored(spec)
    if scoring is not None and scoring.get("status") != "succeeded":
        return {"status": "failed", "error": f"scoring the data set: {scoring.get('error')}"}
    started = time.perf_counter()
    counts = segments_refresh_all()
    refresh_seconds = time.perf_counter() - started
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    pages = {}
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        for segment in Segment.objects.filter(is_system=True).order_by("pk"):
            url = reverse("segments:detail", args=[segment.slug])
            median, status, queries = _timed(client, url)
            pages[segment.slug] = {
                "url": url,
                "members": counts.get(segment.slug),
                "median_ms": median,
                "status": status,
                "queries": queries,
                "budget_ms": MEMBER_PAGE_MS,
                "budget_queries": MEMBER_PAGE_QUERIES,
            }
    bulk = measure_bulk_tag(spec, user)
    return {
        "status": "succeeded",
        "duration_seconds": round(time.perf_counter() - started, 2),
        "scored_first": scoring is not None,
        "bulk_tag": bulk,
        "refresh_all_seconds": round(refresh_seconds, 2),
        "segments_counted": len(counts),
        "member_pages": pages,
    }


def measure_bulk_tag(spec: DatasetSpec, user) -> dict:
    """Tag the members of a segment of the top tenth of spenders (100,000 customers at 1M),
    as the Celery task does (bulk_action_run, every batch); then the same action again, which
    finds nothing to do; then take the tag off them again, leaving the data set as it was."""
    from customers.models import Customer, Tag
    from segments.bulk import bulk_action_run
    from segments.models import BulkAction, Segment

    wanted = min(BULK_TAG_MEMBERS, max(1, spec.customers // 10))
    threshold = Customer.objects.order_by("-total_spent").values_list("total_spent", flat=True)[
        wanted - 1
    ]
    segment, _ = Segment.objects.update_or_create(
        name="Bench: top spenders",
        defaults={
            "rules": {
                "match": "all",
                "conditions": [{"field": "total_spent", "op": "gte", "value": str(threshold)}],
            }
        },
    )
    tag, _ = Tag.objects.get_or_create(name="bench-bulk", defaults={"slug": "bench-bulk"})
    last = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    timings = {}
    for step, kind in (
        ("tag", BulkAction.Kind.ADD_TAG),
        ("tag_again", BulkAction.Kind.ADD_TAG),
        ("untag", BulkAction.Kind.REMOVE_TAG),
    ):
        action = BulkAction.objects.create(
            segment=segment, kind=kind, tag=tag, created_by=user, last_customer_id=last
        )
        began = time.perf_counter()
        action = bulk_action_run(action_id=action.pk)
        timings[f"{step}_seconds"] = round(time.perf_counter() - began, 2)
        timings[f"{step}_changed"] = action.changed_count
    members = segment.customers().count()
    segment.delete()
    tag.delete()
    return {"members": members, "batch_ids": settings.CRM_SEGMENT_BULK_BATCH, **timings}


def summarize_segments(results: dict[int, dict]) -> dict:
    from crm.bench.sections import REFERENCE_CUSTOMERS, REFERENCE_ORDERS

    reference = results.get(REFERENCE_CUSTOMERS) or {}
    refresh = reference.get("refresh_all_seconds")
    budgets = {
        "segments_refresh_all_seconds": {
            "budget": REFRESH_ALL_SECONDS,
            "measured": refresh,
            "passed": None if refresh is None else refresh <= REFRESH_ALL_SECONDS,
        }
    }
    for slug, page in (reference.get("member_pages") or {}).items():
        key = f"segment_{slug.replace('-', '_')}"
        budgets[f"{key}_ms"] = {
            "budget": page["budget_ms"],
            "measured": page["median_ms"],
            "passed": page["status"] == 200 and page["median_ms"] <= page["budget_ms"],
        }
        budgets[f"{key}_queries"] = {
            "budget": page["budget_queries"],
            "measured": page["queries"],
            "passed": page["queries"] <= page["budget_queries"],
        }
    bulk = reference.get("bulk_tag") or {}
    if bulk:
        budgets["segment_bulk_tag_seconds"] = {
            "budget": BULK_TAG_SECONDS,
            "measured": bulk["tag_seconds"],
            "passed": bulk["tag_seconds"] <= BULK_TAG_SECONDS,
        }
    return {
        "budgets": budgets,
        "budgets_at": {"customers": REFERENCE_CUSTOMERS, "orders": REFERENCE_ORDERS},
        **({} if reference else {"note": "Measured only at the reference size."}),
    }
