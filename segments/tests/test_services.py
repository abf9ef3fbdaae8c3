"""segments/services.py: counts (one COUNT and one UPDATE per segment), manual members,
deletion."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from customers.models import Customer
from customers.tests.factories import CustomerFactory, UserFactory
from segments.models import Segment, SegmentMembership
from segments.services import (
    segment_create,
    segment_delete,
    segment_members_add,
    segment_members_remove,
    segment_refresh,
    segment_update,
    segments_refresh_all,
)
from segments.tests.factories import SegmentFactory, all_of, condition

pytestmark = pytest.mark.django_db


def spender(total_spent: str) -> Customer:
    made = CustomerFactory()
    Customer.objects.filter(pk=made.pk).update(total_spent=Decimal(total_spent))
    return made


def test_segment_refresh_stores_the_count_and_when(assert_queries):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    spender("500"), spender("800"), spender("499.99")
    segment_members_add(segment=segment, customers=[spender("1")])

    with assert_queries(3):  # whether it has manual members, one COUNT, one UPDATE
        count = segment_refresh(segment)

    segment.refresh_from_db()
    assert count == segment.member_count == 3
    assert segment.evaluated_at is not None


def test_a_segment_without_manual_members_is_counted_by_its_rules_alone(assert_queries):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    spender("500"), spender("499.99")

    with assert_queries(3) as queries:
        count = segment_refresh(segment)

    assert count == 1
    assert "segments_segmentmembership" not in queries.captured_queries[1]["sql"]


def test_segments_refresh_all_counts_every_segment(assert_queries):
    spender("600")
    never = CustomerFactory()  # order_count 0
    own = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    segments = Segment.objects.count()

    # the segments, those with manual members, then a COUNT and an UPDATE for each
    with assert_queries(2 + 2 * segments):
        counts = segments_refresh_all()

    assert counts[own.slug] == 1
    assert counts["never-ordered"] == Customer.objects.filter(order_count=0).count() == 2
    assert never.pk in Segment.objects.get(slug="never-ordered").customers().values_list(
        "pk", flat=True
    )
    assert not Segment.objects.filter(member_count__isnull=True).exists()
    assert not Segment.objects.filter(evaluated_at__isnull=True).exists()


def test_a_segment_that_no_longer_compiles_is_skipped_not_the_others(caplog):
    broken = SegmentFactory()
    # A field whose app was removed since the rules were saved.
    Segment.objects.filter(pk=broken.pk).update(rules=all_of(condition("gone", "eq", 1)))

    counts = segments_refresh_all()

    assert broken.slug not in counts
    assert "vip" in counts
    assert "condition 1: unknown field 'gone'" in caplog.text


def test_members_are_added_once_and_removed():
    segment, staff = SegmentFactory(rules={}), UserFactory()
    first, second = CustomerFactory(), CustomerFactory()

    assert segment_members_add(segment=segment, customers=[first], user=staff) == 1
    assert segment_members_add(segment=segment, customers=[first, second], user=staff) == 1
    assert set(segment.customers()) == {first, second}
    assert SegmentMembership.objects.get(segment=segment, customer=first).added_by == staff

    assert segment_members_remove(segment=segment, customers=[first]) == 1
    assert list(segment.customers()) == [second]


def test_segment_delete():
    own = SegmentFactory()
    segment_delete(segment=own)
    assert not Segment.objects.filter(pk=own.pk).exists()

    with pytest.raises(ValidationError):
        segment_delete(segment=Segment.objects.get(system_key="vip"))


def test_segment_create_saves_valid_rules_and_refuses_others_naming_the_condition():
    rules = {"match": "all", "conditions": [{"field": "total_spent", "op": "gte", "value": "500"}]}

    segment = segment_create(name="Big spenders", rules=rules)

    assert Segment.objects.get(pk=segment.pk).slug == "big-spenders"
    bad = {"match": "all", "conditions": [{"field": "total_spent", "op": "gte", "value": "lots"}]}
    with pytest.raises(ValidationError) as refused:
        segment_create(name="Broken", rules=bad)
    assert "condition 1: 'total_spent' needs a number" in str(refused.value)
    assert not Segment.objects.filter(name="Broken").exists()


@pytest.mark.parametrize("path", ["create", "update"])
def test_a_name_taken_between_the_check_and_the_save_is_refused_on_the_name(monkeypatch, path):
    SegmentFactory(name="Lapsed", slug="lapsed")
    other = SegmentFactory(name="Other", slug="other")
    # Both checks passed (another person's save landed just after them): only the database sees it.
    monkeypatch.setattr(Segment, "full_clean", lambda self, *args, **kwargs: None)

    with pytest.raises(ValidationError) as refused:
        if path == "create":
            segment_create(name="Lapsed", rules=all_of(condition("total_spent", "gte", 1)))
        else:
            segment_update(segment=other, name="Lapsed", description="", rules={})

    assert "has just been saved" in refused.value.message_dict["name"][0]
    assert Segment.objects.filter(name="Lapsed").count() == 1
