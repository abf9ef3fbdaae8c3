"""The `segments` section of `make bench`: counting every segment, and each pre-built segment's
page with its members, timed through the full middleware stack with DEBUG off.

The refresh (`segments_refresh_all`) is timed once. Each member page is requested as the pages
section requests its pages (``crm.bench.pages._timed``: a warm-up, then the median of
``REQUESTS``, with the queries of one more request). The budgets are those of DESIGN.md section
6, judged at the reference size.
"""

import time

from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from django.urls import reverse

from crm.bench.dataset import DatasetSpec
from crm.bench.pages import DETAIL_MS, LIST_QUERIES, _timed

# A segment's page lists its members: the list's query budget, and the detail page's time.
MEMBER_PAGE_MS, MEMBER_PAGE_QUERIES = DETAIL_MS, LIST_QUERIES
REFRESH_ALL_SECONDS = 30


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
    return {
        "status": "succeeded",
        "duration_seconds": round(time.perf_counter() - started, 2),
        "scored_first": scoring is not None,
        "refresh_all_seconds": round(refresh_seconds, 2),
        "segments_counted": len(counts),
        "member_pages": pages,
    }


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
    return {
        "budgets": budgets,
        "budgets_at": {"customers": REFERENCE_CUSTOMERS, "orders": REFERENCE_ORDERS},
        **({} if reference else {"note": "Measured only at the reference size."}),
    }
