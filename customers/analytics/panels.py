"""The nightly analytics scores on the staff pages: the "Scores" panel on the customer page and
three dashboard cards (customers per RFM segment, customers at risk by value at stake, the last
analytics run).

The scores are written by the nightly run (customers/analytics/); this module only reads them.
The panel reads the customer the page has already loaded, so it costs no query; the cards cost
three queries together whatever the number of customers (the latest run, shared by two of them;
the customers not scored since; the customers at risk).
"""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.urls import reverse

from core import registry
from core.visibility import customers_visible_to
from customers.analytics.backtest_report import backtest_sentence
from customers.analytics.vocabulary import FALLBACK_LABEL, SEGMENT_ORDER, Segment
from customers.models import AnalyticsRun, Customer

AT_RISK_THRESHOLD = 0.5
AT_RISK_LIMIT = 10

# Churn risk bands, in whole percent as shown, so a badge never reads "30%" and "low" at once.
CHURN_LOW_BELOW = 30
CHURN_MEDIUM_BELOW = 60


@dataclass(frozen=True)
class SegmentInfo:
    tone: str  # a Bootstrap colour: the badge and the chart bar
    description: str


SEGMENTS: dict[str, SegmentInfo] = {
    Segment.CHAMPIONS: SegmentInfo("success", "Bought recently and buy often: the best customers."),
    Segment.LOYAL: SegmentInfo("success", "Buy often and came back not long ago."),
    Segment.POTENTIAL_LOYALISTS: SegmentInfo(
        "info", "Bought recently and more than once; could become regulars."
    ),
    Segment.NEW: SegmentInfo("primary", "First order was very recent."),
    Segment.PROMISING: SegmentInfo("primary", "Bought recently, but only once so far."),
    Segment.NEED_ATTENTION: SegmentInfo(
        "warning", "Middling on how recently and how often they buy."
    ),
    Segment.ABOUT_TO_SLEEP: SegmentInfo("warning", "Have not bought for a while, and seldom did."),
    Segment.AT_RISK: SegmentInfo("danger", "Used to buy regularly, but not for a long time."),
    Segment.CANT_LOSE: SegmentInfo(
        "danger", "Among those who bought most often, but gone quiet for a long time."
    ),
    Segment.HIBERNATING: SegmentInfo("secondary", "Bought seldom, and a long time ago."),
    Segment.LOST: SegmentInfo("secondary", "Bought seldom, and the longest time ago."),
    Segment.PROSPECT: SegmentInfo("light", "No delivered order yet, so nothing to score."),
}
UNKNOWN_SEGMENT = SegmentInfo("light", "")


@dataclass(frozen=True)
class ChurnBand:
    """How a churn risk is shown: a whole percent and a coloured band."""

    percent: int
    band: str  # low, medium, high
    tone: str  # a Bootstrap colour

    @property
    def label(self) -> str:
        return f"{self.percent}% · {self.band}"


def churn_band(churn_risk: float | None) -> ChurnBand | None:
    """The badge for a churn risk between 0 and 1; None when the customer has no score."""
    if churn_risk is None:
        return None
    percent = round(churn_risk * 100)
    if percent < CHURN_LOW_BELOW:
        return ChurnBand(percent, "low", "success")
    if percent < CHURN_MEDIUM_BELOW:
        return ChurnBand(percent, "medium", "warning")
    return ChurnBand(percent, "high", "danger")


def percent(value: float | None) -> int | None:
    return None if value is None else round(value * 100)


def segment_list_url(segment: str) -> str:
    """The customer list filtered to one RFM segment."""
    return f"{reverse('customers:list')}?{urlencode({'rfm_segment': segment})}"


# The customer page -----------------------------------------------------------------------------


def analytics_panel_context(request: HttpRequest, customer: Any) -> dict:
    """The customer's scores from the last nightly run; no query (the page loaded the row)."""
    if customer.analytics_at is None:
        return {"scored": False}
    segment = customer.rfm_segment or (Segment.PROSPECT.value if not customer.order_count else "")
    info = SEGMENTS.get(segment, UNKNOWN_SEGMENT)
    return {
        "scored": True,
        "segment": segment,
        "segment_tone": info.tone,
        "segment_description": info.description,
        "segment_url": segment_list_url(segment) if segment else "",
        "is_prospect": segment == Segment.PROSPECT,
        "recency": customer.rfm_recency,
        "frequency": customer.rfm_frequency,
        "monetary": customer.rfm_monetary,
        "churn": churn_band(customer.churn_risk),
        "p_alive_percent": percent(customer.p_alive),
        "expected_orders_90d": customer.expected_orders_90d,
        "predicted_clv": customer.predicted_clv,
        "analytics_at": customer.analytics_at,
    }


# Dashboard reads ------------------------------------------------------------------------------


def rfm_segment_counts(run: AnalyticsRun | None, customers: QuerySet[Customer]) -> dict[str, Any]:
    """Customers per RFM segment in the map's order (zeros included) as ``run`` (the latest
    succeeded run) recorded them, plus the prospects, and those of ``customers`` created since,
    who are not scored yet: one query. The run records its counts over every customer; a
    per-store visibility rule will need them per store."""
    by_segment = run.segment_counts if run else {}
    since = customers
    if run is not None and run.finished_at is not None:
        since = since.filter(created_at__gt=run.finished_at)
    return {
        "segments": [
            {
                "name": name,
                "customers": by_segment.get(name, 0),
                "tone": SEGMENTS[name].tone,
                "description": SEGMENTS[name].description,
                "url": segment_list_url(name),
            }
            for name in SEGMENT_ORDER
        ],
        "prospects": by_segment.get(Segment.PROSPECT, 0),
        "unscored": since.count(),
    }


def customers_at_risk(
    customers: QuerySet[Customer],
    *,
    threshold: float = AT_RISK_THRESHOLD,
    limit: int = AT_RISK_LIMIT,
) -> QuerySet[Customer]:
    """Active customers whose churn risk is at least ``threshold``, most value at stake (churn
    risk times predicted value) first: read from the score copy's value index, so the first
    rows come without reading every customer."""
    return (
        customers.filter(status=Customer.Status.ACTIVE, score__churn_risk__gte=threshold)
        .annotate(value_at_stake=F("score__value_at_stake"))
        .only(
            "first_name",
            "last_name",
            "email",
            "rfm_segment",
            "churn_risk",
            "predicted_clv",
            "last_order_at",
        )
        .order_by("-score__value_at_stake", "-score__churn_risk", "id")[:limit]
    )


def latest_succeeded_run() -> AnalyticsRun | None:
    """The most recently finished run that succeeded; queued, running and failed runs are not
    what the scores on the pages come from."""
    return (
        AnalyticsRun.objects.filter(status=AnalyticsRun.Status.SUCCEEDED)
        .order_by(F("finished_at").desc(nulls_last=True), "-created_at", "-id")
        .first()
    )


def latest_run_for(request: HttpRequest) -> AnalyticsRun | None:
    """latest_succeeded_run(), read once per request for the cards that share it."""
    if not hasattr(request, "_crm_latest_analytics_run"):
        request._crm_latest_analytics_run = latest_succeeded_run()
    return request._crm_latest_analytics_run


# Dashboard cards ------------------------------------------------------------------------------


def rfm_chart_card(request: HttpRequest) -> dict:
    counts = rfm_segment_counts(latest_run_for(request), customers_visible_to(request.user))
    segments = counts["segments"]
    return {
        **counts,
        "segmented": sum(row["customers"] for row in segments),
        "rfm_chart": {
            "labels": [row["name"] for row in segments],
            "customers": [row["customers"] for row in segments],
            "tones": [row["tone"] for row in segments],
            "urls": [row["url"] for row in segments],
        },
    }


def at_risk_card(request: HttpRequest) -> dict:
    customers = list(customers_at_risk(customers_visible_to(request.user)))
    for customer in customers:
        customer.churn = churn_band(customer.churn_risk)
        customer.segment_tone = SEGMENTS.get(customer.rfm_segment, UNKNOWN_SEGMENT).tone
    threshold_percent = round(AT_RISK_THRESHOLD * 100)
    # The list's churn filter takes percent.
    list_query = urlencode(
        {"status": "active", "churn_risk_min": threshold_percent, "sort": "-churn_risk"}
    )
    return {
        "at_risk_customers": customers,
        "threshold_percent": threshold_percent,
        "list_url": f"{reverse('customers:list')}?{list_query}",
    }


def last_run_card(request: HttpRequest) -> dict:
    run = latest_run_for(request)
    return {
        "run": run,
        "fallback_label": FALLBACK_LABEL,
        "backtest_sentence": backtest_sentence(run.backtest) if run else "",
    }


registry.register_panel(
    key="analytics",
    title="Scores",
    template="customers/panels/analytics.html",
    context=analytics_panel_context,
    permission="customers.view_customer",
    order=10,
)
registry.register_dashboard_card(
    key="rfm-segments",
    title="Customers per RFM segment",
    template="customers/cards/rfm_chart.html",
    context=rfm_chart_card,
    permission="customers.view_customer",
    order=41,
    width="col-12 col-lg-8",
)
registry.register_dashboard_card(
    key="analytics-last-run",
    title="Last analytics run",
    template="customers/cards/last_run.html",
    context=last_run_card,
    permission="customers.view_customer",
    order=42,
    width="col-12 col-lg-4",
)
registry.register_dashboard_card(
    key="at-risk",
    title="At risk, by value at stake",
    template="customers/cards/at_risk.html",
    context=at_risk_card,
    permission="customers.view_customer",
    order=43,
    width="col-12",
)
