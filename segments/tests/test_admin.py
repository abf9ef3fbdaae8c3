"""The Segment admin: the list with rules in words and counts, the change form with its rules
checked at the field, manual members and a preview, pre-built segments kept, and the actions."""

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from core.roles import MARKETING
from customers.models import Customer
from customers.tests.factories import CustomerFactory
from segments.models import Segment, SegmentMembership
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory, all_of, condition

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:segments_segment_changelist")
ADD = reverse("admin:segments_segment_add")


def change_url(segment: Segment) -> str:
    return reverse("admin:segments_segment_change", args=[segment.pk])


def spender(first_name: str, total_spent: str) -> Customer:
    made = CustomerFactory(first_name=first_name, last_name="Shopper")
    Customer.objects.filter(pk=made.pk).update(total_spent=Decimal(total_spent))
    return made


def form_data(segment: Segment | None = None, **fields) -> dict:
    """The change form as the browser posts it, with no manual member rows."""
    data = {
        "name": segment.name if segment else "Big spenders",
        "slug": segment.slug if segment else "",
        "description": "",
        "rules": '{"match": "all", "conditions": []}',
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    data.update(fields)
    return data


def flashed(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


@pytest.fixture
def marketing_client(client_in_group):
    return client_in_group(MARKETING)


@pytest.fixture
def content_type_cached():
    """The change form reads the model's content type, cached for the process after the first
    read: read it first, so the count is the same whichever test runs first."""
    ContentType.objects.get_for_model(Segment)


# The list


def test_the_changelist_shows_rules_in_words_and_counts(admin_client, assert_queries):
    SegmentFactory(name="Big spenders", rules=all_of(condition("total_spent", "gte", 500)))
    SegmentFactory(name="Lapsed", rules=all_of(condition("days_since_last_order", "gt", 90)))
    for index in range(3):
        SegmentFactory(name=f"Extra {index}")
    Segment.objects.filter(name="Lapsed").update(member_count=1234, evaluated_at=timezone.now())

    with assert_queries(4):
        response = admin_client.get(CHANGELIST)

    assert response.status_code == 200
    body = response.content.decode()
    assert "Total spent ≥ 500" in body
    assert "Days since last order &gt; 90" in body
    assert "1,234 (counted" in body
    assert "Not counted yet" in body


def test_the_changelist_loads_for_marketing(marketing_client, assert_queries):
    SegmentFactory(name="Big spenders")

    with assert_queries(4):
        response = marketing_client.get(CHANGELIST)

    assert response.status_code == 200
    assert "Big spenders" in response.content.decode()


def test_the_changelist_searches_by_name(admin_client):
    SegmentFactory(name="Big spenders")
    SegmentFactory(name="Lapsed")

    response = admin_client.get(CHANGELIST, {"q": "spend"})

    names = [segment.name for segment in response.context["cl"].result_list]
    assert names == ["Big spenders"]


# The change form


def test_the_change_form_previews_members_linked_to_their_pages(
    admin_client, assert_queries, content_type_cached
):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    rich = spender("Ada", "900")
    spender("Bob", "10")
    by_hand = CustomerFactory(first_name="Cy", last_name="Manual")
    SegmentMembershipFactory(segment=segment, customer=by_hand)
    SegmentMembershipFactory(segment=segment, customer=spender("Di", "0"))

    with assert_queries(5):
        response = admin_client.get(change_url(segment))

    assert response.status_code == 200
    body = response.content.decode()
    assert f'<a href="{reverse("admin:customers_customer_change", args=[rich.pk])}">' in body
    assert f'<a href="{reverse("admin:customers_customer_change", args=[by_hand.pk])}">' in body
    assert "Bob Shopper" not in body
    assert "Di Shopper" in body  # a manual member the rules do not match


def test_the_preview_shows_twenty_and_says_how_many_more(
    admin_client, assert_queries, content_type_cached
):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    for index in range(23):
        spender(f"Member{index:02d}", "600")

    with assert_queries(6):
        response = admin_client.get(change_url(segment))

    body = response.content.decode()
    assert all(f"Member{index:02d} Shopper" in body for index in range(20))
    assert "Member20 Shopper" not in body
    assert "and 3 more" in body


def test_the_preview_says_more_than_the_cap(admin_client, settings):
    settings.CRM_LIST_COUNT_CAP = 21
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    for index in range(23):
        spender(f"Member{index:02d}", "600")

    response = admin_client.get(change_url(segment))

    assert "and more than 1 more" in response.content.decode()


def test_the_change_form_loads_for_marketing(marketing_client, assert_queries, content_type_cached):
    segment = SegmentFactory()
    SegmentMembershipFactory.create_batch(3, segment=segment)

    with assert_queries(5):
        response = marketing_client.get(change_url(segment))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="memberships-2-customer"' in body
    assert 'name="memberships-__prefix__-customer"' in body  # a new row: the autocomplete


def test_invalid_json_is_shown_at_the_rules_field(admin_client):
    response = admin_client.post(ADD, form_data(rules='{"match": "all", '))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rules"] == ["Enter a valid JSON."]
    assert not Segment.objects.filter(name="Big spenders").exists()


def test_json_too_deep_for_the_parser_is_shown_at_the_rules_field(admin_client):
    response = admin_client.post(ADD, form_data(rules="[" * 100_000 + "]" * 100_000))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rules"] == ["Enter a valid JSON."]


def test_invalid_rules_show_the_models_messages_at_the_field(admin_client):
    rules = '{"match": "all", "conditions": [{"field": "total_spent", "op": "gte", "value": "a lot"}, {"field": "color", "op": "eq", "value": "red"}]}'  # noqa: E501

    response = admin_client.post(ADD, form_data(rules=rules))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rules"] == [
        "condition 1: 'total_spent' needs a number",
        "condition 2: unknown field 'color'",
    ]
    assert not Segment.objects.filter(name="Big spenders").exists()


def test_valid_rules_and_a_manual_member_are_saved(admin_client, admin_user):
    customer = CustomerFactory()
    data = form_data(
        rules='{"match": "all", "conditions": [{"field": "order_count", "op": "gte", "value": 3}]}',
        **{"memberships-TOTAL_FORMS": "1", "memberships-0-customer": str(customer.pk)},
    )

    response = admin_client.post(ADD, data)

    assert response.status_code == 302
    segment = Segment.objects.get(name="Big spenders")
    assert segment.rules == all_of(condition("order_count", "gte", 3))
    assert segment.slug == "big-spenders"
    membership = SegmentMembership.objects.get(segment=segment)
    assert (membership.customer, membership.added_by) == (customer, admin_user)


# Pre-built segments


def test_a_prebuilt_segment_has_no_delete_and_its_fields_are_read_only(admin_client):
    vip = Segment.objects.get(system_key="vip")

    response = admin_client.get(change_url(vip))
    deleting = admin_client.get(reverse("admin:segments_segment_delete", args=[vip.pk]))

    form = response.context["adminform"].form
    assert "is_system" not in form.fields and "system_key" not in form.fields
    assert response.context["has_delete_permission"] is False
    assert reverse("admin:segments_segment_delete", args=[vip.pk]) not in response.content.decode()
    assert deleting.status_code == 403
    assert Segment.objects.filter(pk=vip.pk).exists()


def test_a_shops_own_segment_can_be_deleted(admin_client):
    segment = SegmentFactory()

    response = admin_client.get(change_url(segment))

    assert reverse("admin:segments_segment_delete", args=[segment.pk]) in response.content.decode()


def test_bulk_delete_refuses_prebuilt_segments_with_a_message(admin_client):
    vip = Segment.objects.get(system_key="vip")
    own = SegmentFactory()

    response = admin_client.post(
        CHANGELIST,
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [vip.pk, own.pk], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert flashed(response) == [
        "“VIP” is a pre-built segment: it cannot be deleted. Change its rules instead."
    ]
    assert Segment.objects.filter(pk__in=[vip.pk, own.pk]).count() == 2


def test_bulk_delete_deletes_the_shops_own_segments(admin_client):
    own = SegmentFactory()

    admin_client.post(
        CHANGELIST, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [own.pk], "post": "yes"}
    )

    assert not Segment.objects.filter(pk=own.pk).exists()


# Actions


def test_re_evaluating_sets_the_member_counts(admin_client):
    big = SegmentFactory(name="Big spenders", rules=all_of(condition("total_spent", "gte", 500)))
    spender("Ada", "900")
    spender("Bob", "600")
    spender("Cy", "10")
    empty = SegmentFactory(name="Nobody", rules={})

    response = admin_client.post(
        CHANGELIST,
        {"action": "refresh_counts", ACTION_CHECKBOX_NAME: [big.pk, empty.pk]},
        follow=True,
    )

    big.refresh_from_db()
    empty.refresh_from_db()
    assert (big.member_count, empty.member_count) == (2, 0)
    assert big.evaluated_at is not None
    assert flashed(response) == ["Members counted. Big spenders: 2; Nobody: 0."]


def export(client, *segments):
    return client.post(
        CHANGELIST,
        {"action": "export_members", ACTION_CHECKBOX_NAME: [segment.pk for segment in segments]},
        follow=True,
    )


def test_exporting_one_segment_downloads_its_members(admin_client):
    segment = SegmentFactory(slug="big", rules=all_of(condition("total_spent", "gte", 500)))
    ada = spender("Ada", "900")
    spender("Bob", "10")

    response = export(admin_client, segment)

    assert response["Content-Disposition"] == 'attachment; filename="big-members.csv"'
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert len(lines) == 2
    assert lines[1].startswith(f"{ada.pk},Ada,Shopper,")


def test_exporting_several_segments_is_refused_with_a_message(admin_client):
    first, second = SegmentFactory(), SegmentFactory()

    response = export(admin_client, first, second)

    assert response.status_code == 200
    assert not response.streaming
    assert flashed(response) == ["Select one segment to export its members."]


def test_exporting_needs_the_right_to_see_customers(client_with_perms):
    client = client_with_perms("segments.view_segment", "segments.change_segment")
    segment = SegmentFactory()

    listed = client.get(CHANGELIST)
    response = export(client, segment)

    actions = [name for name, _ in listed.context["action_form"].fields["action"].choices]
    assert "refresh_counts" in actions and "export_members" not in actions
    assert not response.streaming
    assert flashed(response) == ["No action selected."]


def test_a_manual_member_is_removed_and_the_others_kept(admin_client):
    segment = SegmentFactory(name="Hand picked", slug="hand-picked", rules={})
    kept, removed = SegmentMembershipFactory.create_batch(2, segment=segment)
    rows = SegmentMembership.objects.filter(segment=segment)  # the inline's order
    data = form_data(
        segment,
        rules="{}",
        **{"memberships-TOTAL_FORMS": "2", "memberships-INITIAL_FORMS": "2"},
    )
    for index, membership in enumerate(rows):
        data[f"memberships-{index}-id"] = str(membership.pk)
        data[f"memberships-{index}-segment"] = str(segment.pk)
        if membership == removed:
            data[f"memberships-{index}-DELETE"] = "on"

    response = admin_client.post(change_url(segment), data)

    assert response.status_code == 302
    assert list(SegmentMembership.objects.filter(segment=segment)) == [kept]


# Bulk actions


def test_the_bulk_actions_changelist_query_count_is_pinned(admin_client, assert_queries, vendor):
    from customers.tests.factories import TagFactory
    from segments.models import BulkAction

    for _ in range(5):
        BulkAction.objects.create(
            segment=SegmentFactory(), kind=BulkAction.Kind.ADD_TAG, tag=TagFactory()
        )
    url = reverse("admin:segments_bulkaction_changelist")

    # session, user, the count (on PostgreSQL the planner's estimate first, then the capped
    # count), the page with what each action names
    with assert_queries(5 if vendor == "postgresql" else 4):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert response.content.decode().count("Add the tag") == 5


def test_run_again_sends_only_the_stopped_actions(admin_client, django_capture_on_commit_callbacks):
    from customers.models import CustomerTag
    from customers.tests.factories import TagFactory
    from segments.models import BulkAction

    member = spender("Ada", "900")
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 500)))
    stopped_tag, done_tag = TagFactory(), TagFactory()
    stopped = BulkAction.objects.create(
        segment=segment, kind=BulkAction.Kind.ADD_TAG, tag=stopped_tag,
        status=BulkAction.Status.FAILED, last_customer_id=member.pk,
    )  # fmt: skip
    done = BulkAction.objects.create(
        segment=segment, kind=BulkAction.Kind.ADD_TAG, tag=done_tag,
        status=BulkAction.Status.SUCCEEDED, last_customer_id=member.pk,
    )  # fmt: skip

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            reverse("admin:segments_bulkaction_changelist"),
            {"action": "run_again", ACTION_CHECKBOX_NAME: [stopped.pk, done.pk]},
            follow=True,
        )

    stopped.refresh_from_db()
    assert stopped.status == BulkAction.Status.SUCCEEDED
    assert CustomerTag.objects.filter(tag=stopped_tag, customer=member).exists()
    assert not CustomerTag.objects.filter(tag=done_tag).exists()  # left as it was
    assert "1 stopped action sent to run again" in response.content.decode()
