"""The pre-built segments: there after migrate, protected, editable, and not reset by the next
migrate."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers.analytics.scores import score_table_rebuild
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from segments.models import Segment
from segments.prebuilt import PREBUILT, segments_prebuilt_ensure
from segments.rules import rules_validate
from segments.services import segment_delete
from segments.tests.factories import all_of, condition

pytestmark = pytest.mark.django_db

KEYS = [
    "vip",
    "high-value",
    "frequent-buyers",
    "new-customers",
    "inactive",
    "never-ordered",
    "at-risk",
    "birthday-this-month",
]


def test_every_pre_built_segment_exists_after_migrate_with_valid_rules():
    prebuilt = {segment.system_key: segment for segment in Segment.objects.filter(is_system=True)}

    assert sorted(prebuilt) == sorted(KEYS)
    assert [key for key, *_ in PREBUILT] == KEYS
    for segment in prebuilt.values():
        assert rules_validate(segment.rules) == []
        assert segment.slug == segment.system_key
    assert prebuilt["vip"].rules == all_of(
        condition("rfm_monetary", "eq", 5), condition("rfm_recency", "gte", 4)
    )
    assert prebuilt["birthday-this-month"].rules == all_of(
        condition("birthday_month", "eq", "current")
    )


def test_edited_and_renamed_pre_built_segments_survive_another_migrate():
    vip = Segment.objects.get(system_key="vip")
    vip.name = "Our best"
    vip.rules = all_of(condition("rfm_monetary", "gte", 4))
    vip.save()
    inactive = Segment.objects.get(system_key="inactive")
    inactive.rules = all_of(condition("days_since_last_order", "gt", 180))
    inactive.save()

    call_command("migrate", verbosity=0)

    assert Segment.objects.filter(is_system=True).count() == len(KEYS)
    vip.refresh_from_db()
    inactive.refresh_from_db()
    assert (vip.name, vip.rules) == ("Our best", all_of(condition("rfm_monetary", "gte", 4)))
    assert inactive.rules == all_of(condition("days_since_last_order", "gt", 180))
    assert not Segment.objects.filter(name="VIP").exists()


def test_a_missing_pre_built_segment_comes_back_and_a_taken_name_is_left_alone():
    Segment.objects.filter(system_key="at-risk").update(system_key="", is_system=False)
    Segment.objects.filter(system_key="").delete()  # the shop's own now, so it may go
    Segment.objects.filter(system_key="inactive").update(system_key="", is_system=False)

    created = segments_prebuilt_ensure()

    assert created == 1
    assert Segment.objects.get(system_key="at-risk").is_system
    assert not Segment.objects.filter(system_key="inactive").exists()
    assert Segment.objects.get(name="Inactive").is_system is False


def test_the_service_refuses_to_delete_a_pre_built_segment():
    with pytest.raises(Exception, match="pre-built segment"):
        segment_delete(segment=Segment.objects.get(system_key="never-ordered"))

    assert Segment.objects.filter(system_key="never-ordered").exists()


def stats(name: str, **fields) -> Customer:
    made = CustomerFactory(first_name=name)
    Customer.objects.filter(pk=made.pk).update(**fields)
    return made


def members(key: str, today: date) -> set[str]:
    segment = Segment.objects.get(system_key=key)
    return set(segment.customers(today=today).values_list("first_name", flat=True))


def test_the_pre_built_rules_select_what_their_names_say(settings):
    settings.TIME_ZONE = "UTC"
    today = date(2024, 3, 31)
    now = timezone.make_aware(timezone.datetime(2024, 3, 31, 12))
    stats("vip", rfm_monetary=5, rfm_recency=4, order_count=7, total_spent=Decimal(2500))
    stats("rich but gone", rfm_monetary=5, rfm_recency=3, total_spent=Decimal("2499.99"))
    stats("new", order_count=1, first_order_at=now - timedelta(days=30), last_order_at=now)
    stats("not new", order_count=6, first_order_at=now - timedelta(days=31), last_order_at=now)
    stats("gone", order_count=1, last_order_at=now - timedelta(days=91))
    stats("resting", order_count=1, last_order_at=now - timedelta(days=90))
    stats("never", order_count=0)
    stats("risky", rfm_segment="At Risk", churn_risk=0.7, predicted_clv=Decimal(10), order_count=1)
    stats("safe", rfm_segment="Lost", churn_risk=0.69, predicted_clv=Decimal(10), order_count=1)
    stats("march baby", date_of_birth=date(2000, 3, 31), order_count=1)
    stats("april baby", date_of_birth=date(2000, 4, 1), order_count=1)
    score_table_rebuild()

    assert members("vip", today) == {"vip"}
    assert members("high-value", today) == {"vip"}
    assert members("frequent-buyers", today) == {"vip"}
    assert members("new-customers", today) == {"new"}
    assert members("inactive", today) == {"gone"}
    assert members("never-ordered", today) == {"rich but gone", "never"}
    assert members("at-risk", today) == {"risky"}
    assert members("birthday-this-month", today) == {"march baby"}
    assert members("birthday-this-month", date(2024, 4, 1)) == {"april baby"}
