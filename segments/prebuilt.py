"""The pre-built segments: created after every migrate if missing, never overwritten.

Each is found again by its ``system_key``, so a renamed one is not created twice and edited rules
are kept. The thresholds of "High value" and "Frequent buyers" are the fixed RFM thresholds for a
score of 4 (spend 2,500; 7 orders: docs/segments.md).
"""

import logging

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS, router

from segments.fields import CURRENT_MONTH

logger = logging.getLogger(__name__)


def _all(*conditions: dict) -> dict:
    return {"match": "all", "conditions": list(conditions)}


def _condition(field: str, op: str, value=None) -> dict:
    return {"field": field, "op": op, "value": value}


# (key, name, description, rules)
PREBUILT = (
    (
        "vip",
        "VIP",
        "Top spenders who bought recently: RFM monetary score 5 and recency score 4 or 5.",
        _all(_condition("rfm_monetary", "eq", 5), _condition("rfm_recency", "gte", 4)),
    ),
    (
        "high-value",
        "High value",
        "Customers who have spent 2,500 or more in all.",
        _all(_condition("total_spent", "gte", 2500)),
    ),
    (
        "frequent-buyers",
        "Frequent buyers",
        "Customers with 7 or more delivered orders.",
        _all(_condition("order_count", "gte", 7)),
    ),
    (
        "new-customers",
        "New customers",
        "First order in the last 30 days.",
        _all(_condition("days_since_first_order", "lte", 30)),
    ),
    (
        "inactive",
        "Inactive",
        "Customers who have ordered, but not in the last 90 days.",
        _all(_condition("days_since_last_order", "gt", 90)),
    ),
    (
        "never-ordered",
        "Never ordered",
        "Customers without a delivered order.",
        _all(_condition("order_count", "eq", 0)),
    ),
    (
        "at-risk",
        "At risk",
        "Churn risk of 70% or more in the last nightly scoring.",
        _all(_condition("churn_risk", "gte", 0.7)),
    ),
    (
        "birthday-this-month",
        "Birthday this month",
        "Customers whose birthday falls in the current month.",
        _all(_condition("birthday_month", "eq", CURRENT_MONTH)),
    ),
)


def segments_prebuilt_ensure(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> int:
    """Create the pre-built segments that are missing; returns how many were created. One that
    exists (by its key) is left as it is: its name, description and rules may have been edited.
    A name or slug already taken by a segment of the shop's own is left alone, and logged."""
    Segment = apps.get_model("segments", "Segment")
    manager = Segment.objects.using(using)
    existing = set(manager.exclude(system_key="").values_list("system_key", flat=True))
    created = 0
    for key, name, description, rules in PREBUILT:
        if key in existing:
            continue
        if manager.filter(name=name).exists() or manager.filter(slug=key).exists():
            logger.warning("Pre-built segment %r not created: the name or slug is taken.", name)
            continue
        manager.create(
            system_key=key,
            name=name,
            slug=key,
            description=description,
            rules=rules,
            is_system=True,
        )
        created += 1
    return created


def segments_prebuilt_after_migrate(sender, apps=global_apps, using=DEFAULT_DB_ALIAS, **kwargs):
    """post_migrate receiver of the segments app (migrations import no live code)."""
    try:
        Segment = apps.get_model("segments", "Segment")
    except LookupError:  # migrated back past segments
        return
    if not router.allow_migrate_model(using, Segment):
        return
    segments_prebuilt_ensure(apps=apps, using=using)
