"""segments/models.py: invalid rules refused on every path, the customers of a segment (rules
OR manual members, one queryset, one query to count), and pre-built segments kept."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from core import visibility
from customers.models import Customer
from customers.tests.factories import CustomerFactory, UserFactory
from segments.models import Segment, SegmentMembership
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory, all_of, condition

pytestmark = pytest.mark.django_db

BAD_RULES = all_of(
    condition("status", "eq", "active"),
    condition("total_spent", "gte", "a lot"),
    condition("color", "eq", "red"),
)
BAD_MESSAGES = [
    "condition 2: 'total_spent' needs a number",
    "condition 3: unknown field 'color'",
]


def spender(name: str, total_spent: str) -> Customer:
    made = CustomerFactory(first_name=name)
    Customer.objects.filter(pk=made.pk).update(total_spent=Decimal(total_spent))
    return made


def test_full_clean_refuses_invalid_rules_with_the_messages():
    segment = Segment(name="Broken", rules=BAD_RULES)

    with pytest.raises(ValidationError) as refused:
        segment.full_clean()

    assert refused.value.message_dict == {"rules": BAD_MESSAGES}


def test_save_refuses_invalid_rules_from_any_path():
    with pytest.raises(ValidationError) as refused:
        Segment.objects.create(name="Broken", rules=BAD_RULES)
    assert refused.value.message_dict == {"rules": BAD_MESSAGES}

    segment = SegmentFactory(name="Fine")
    segment.rules = all_of(condition("order_count", "between", [5, 1]))
    with pytest.raises(ValidationError) as refused:
        segment.save()
    assert refused.value.message_dict == {
        "rules": ["condition 1: 'between' needs two values, lowest first"]
    }

    assert not Segment.objects.filter(name="Broken").exists()
    segment.refresh_from_db()
    assert segment.rules == all_of(condition("total_spent", "gte", 500))


def test_rules_that_cannot_be_stored_are_refused():
    segment = Segment(name="NaN", rules=all_of(condition("churn_risk", "gte", float("nan"))))

    with pytest.raises(ValidationError) as refused:
        segment.save()

    assert refused.value.message_dict == {
        "rules": ["Numbers must be finite: NaN and Infinity cannot be stored."]
    }


def test_valid_segment_saves_with_a_slug_from_its_name():
    segment = Segment(name="Big spenders in Leeds", rules=all_of(condition("city", "eq", "Leeds")))
    segment.full_clean()
    segment.save()

    assert Segment.objects.get(slug="big-spenders-in-leeds").pk == segment.pk


def test_empty_rules_are_no_rule_and_valid():
    segment = Segment(name="Hand picked", rules={})
    segment.full_clean()
    segment.save()

    assert segment.rules == {}


def test_customers_are_the_rules_or_the_manual_members_once_each(assert_queries):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    big, both = spender("big", "900"), spender("both", "500")
    hand_picked = spender("hand picked", "10")
    spender("neither", "499.99")
    SegmentMembershipFactory(segment=segment, customer=hand_picked)
    SegmentMembershipFactory(segment=segment, customer=both)  # matches the rules as well
    SegmentMembershipFactory(customer=spender("elsewhere", "1"))  # another segment's member

    with assert_queries(1):
        count = segment.customers().count()
    with assert_queries(1):
        names = [customer.first_name for customer in segment.customers()]

    assert count == 3
    assert sorted(names) == ["big", "both", "hand picked"]
    assert big.pk in segment.customers().values_list("pk", flat=True)


def test_a_segment_without_rules_holds_its_manual_members():
    segment = SegmentFactory(rules={})
    member = spender("member", "0")
    spender("other", "1000")
    SegmentMembershipFactory(segment=segment, customer=member)

    assert list(segment.customers()) == [member]


def test_customers_for_a_user_start_from_what_the_user_may_see(monkeypatch):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 0)))
    shown = spender("shown", "1")
    hidden = spender("hidden", "1")
    SegmentMembershipFactory(segment=segment, customer=hidden)
    rule = visibility.customer_filter

    def not_hidden(user, via=""):
        path = f"{via}__pk" if via else "pk"
        return rule(user, via) & ~Q(**{path: hidden.pk})

    monkeypatch.setattr(visibility, "customer_filter", not_hidden)
    staff = UserFactory()

    assert list(segment.customers(staff)) == [shown]
    assert set(segment.customers()) == {shown, hidden}
    assert list(segment.customers(UserFactory(is_active=False))) == []


def test_a_pre_built_segment_cannot_be_deleted_from_any_path():
    vip, own = Segment.objects.get(system_key="vip"), SegmentFactory()

    with pytest.raises(ValidationError) as refused:
        vip.delete()
    assert refused.value.messages == [
        "“VIP” is a pre-built segment: it cannot be deleted. Change its rules instead."
    ]
    # A queryset delete (the admin's bulk action) runs in its own transaction, rolled back whole.
    with pytest.raises(ValidationError), transaction.atomic():
        Segment.objects.filter(pk__in=[vip.pk, own.pk]).delete()

    assert Segment.objects.filter(pk=vip.pk).exists()
    assert Segment.objects.filter(pk=own.pk).exists()  # rolled back with it


def test_a_segment_of_the_shop_deletes_with_its_memberships():
    membership = SegmentMembershipFactory()

    membership.segment.delete()

    assert not Segment.objects.filter(pk=membership.segment_id).exists()
    assert not SegmentMembership.objects.filter(pk=membership.pk).exists()
    assert Customer.objects.filter(pk=membership.customer_id).exists()


def test_a_customer_is_a_member_once():
    membership = SegmentMembershipFactory()
    duplicate = SegmentMembership(segment=membership.segment, customer=membership.customer)

    with pytest.raises(ValidationError) as refused:
        duplicate.full_clean()

    assert refused.value.messages == ["This customer is already a member of the segment."]
