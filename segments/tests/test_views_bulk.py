"""The bulk actions' pages: ticking members, choosing the action, its progress."""

import json
from decimal import Decimal

import pytest
from django.urls import reverse

from customers.models import Customer, CustomerTag
from customers.tests.factories import CustomerFactory, TagFactory
from segments.models import BulkAction
from segments.tests.factories import SegmentFactory, all_of, condition

pytestmark = pytest.mark.django_db

Kind = BulkAction.Kind


def spenders(count: int, total: str = "600") -> list[Customer]:
    made = [CustomerFactory() for _ in range(count)]
    Customer.objects.filter(pk__in=[c.pk for c in made]).update(total_spent=Decimal(total))
    return made


@pytest.fixture
def segment():
    return SegmentFactory(name="Big spenders", rules=all_of(condition("total_spent", "gte", 500)))


@pytest.fixture
def marketing(client_in_group):
    return client_in_group("Marketing")


def bulk_url(segment) -> str:
    return reverse("segments:bulk", args=[segment.slug])


def test_the_members_page_offers_ticks_and_the_actions_to_those_who_may(
    segment, marketing, client_in_group
):
    spenders(2)

    html = marketing.get(reverse("segments:detail", args=[segment.slug])).content.decode()
    support_html = (
        client_in_group("Support")
        .get(reverse("segments:detail", args=[segment.slug]))
        .content.decode()
    )

    assert 'form="members-action"' in html and "Act on all members" in html
    assert html.count('class="form-check-input crm-tick"') == 2
    # Support tags customers too (add and delete customer tags): the tag actions are theirs.
    assert "Act on all members" in support_html


def test_the_members_page_offers_no_actions_without_their_permissions(segment, client_with_perms):
    spenders(2)
    client = client_with_perms("segments.view_segment", "customers.view_customer")

    html = client.get(reverse("segments:detail", args=[segment.slug])).content.decode()

    assert "Act on all members" not in html and "crm-tick" not in html


def test_the_form_offers_only_the_actions_the_user_may_start(segment, client_with_perms):
    client = client_with_perms(
        "segments.view_segment", "customers.view_customer", "customers.add_customertag"
    )

    response = client.get(bulk_url(segment), {"scope": "all"})

    kinds = [value for value, _label in response.context["form"].fields["kind"].choices]
    assert kinds == [Kind.ADD_TAG]


def test_without_any_bulk_permission_the_form_is_refused(segment, client_with_perms):
    client = client_with_perms("segments.view_segment", "customers.view_customer")

    assert client.get(bulk_url(segment), {"scope": "all"}).status_code == 403


def test_tagging_all_members_is_done_at_once_and_said(segment, marketing):
    members = spenders(3)
    spenders(1, total="10")
    tag = TagFactory(name="VIP")

    response = marketing.post(
        bulk_url(segment), {"scope": "all", "kind": Kind.ADD_TAG, "tag": tag.pk}, follow=True
    )

    action = BulkAction.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "segments:bulk_action", args=[segment.slug, action.pk]
    )
    assert "Tag “VIP” added to 3 customers" in response.content.decode()
    assert set(CustomerTag.objects.filter(tag=tag).values_list("customer", flat=True)) == {
        c.pk for c in members
    }


def test_ticked_customers_are_carried_to_the_form_and_only_they_are_tagged(segment, marketing):
    first, _second, third = spenders(3)
    tag = TagFactory()

    form_page = marketing.get(
        bulk_url(segment), {"scope": "selected", "customer": [first.pk, third.pk]}
    )
    html = form_page.content.decode()
    assert "2 ticked customers" in html
    assert html.count('name="customer"') == 2

    marketing.post(
        bulk_url(segment),
        {
            "scope": "selected",
            "customer": [first.pk, third.pk],
            "kind": Kind.ADD_TAG,
            "tag": tag.pk,
        },
    )

    assert set(CustomerTag.objects.filter(tag=tag).values_list("customer", flat=True)) == {
        first.pk,
        third.pk,
    }


def test_all_ignores_the_ticks_sent_with_it(segment, marketing):
    spenders(3)

    response = marketing.get(bulk_url(segment), {"scope": "all", "customer": ["1"]})

    assert response.context["selected_count"] is None
    assert "every member" in response.content.decode()


@pytest.mark.parametrize(
    ("customers", "message"),
    [
        ([], "Tick at least one customer"),
        (["1", "x"], "could not be read"),
        ([str(n) for n in range(1, 502)], "At most 500 customers"),
    ],
)
def test_a_bad_selection_goes_back_with_a_message(segment, marketing, customers, message):
    response = marketing.get(
        bulk_url(segment), {"scope": "selected", "customer": customers}, follow=True
    )

    assert response.redirect_chain[-1][0] == reverse("segments:detail", args=[segment.slug])
    assert message in response.content.decode()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": Kind.ADD_TAG}, "tag", "Choose the tag to add or remove."),
        ({"kind": Kind.ADD_TO_SEGMENT}, "target_segment", "Choose the segment to add them to."),
        ({"kind": "paint"}, "kind", "Select a valid choice"),
        ({"kind": Kind.ADD_TAG, "tag": "999999"}, "tag", "Select a valid choice"),
    ],
)
def test_a_bad_choice_is_named_on_its_field_and_nothing_starts(
    segment, marketing, data, field, message
):
    response = marketing.post(bulk_url(segment), {"scope": "all", **data})

    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert 'id="error-summary"' in response.content.decode()
    assert not BulkAction.objects.exists()


def test_the_segment_itself_is_not_offered_as_a_target(segment, marketing):
    other = SegmentFactory(name="Other")

    response = marketing.get(bulk_url(segment), {"scope": "all"})

    targets = set(response.context["form"].fields["target_segment"].queryset)
    assert other in targets and segment not in targets


def test_a_large_action_shows_its_progress_and_the_members_page_links_to_it(
    segment, marketing, settings, django_capture_on_commit_callbacks
):
    settings.CRM_SEGMENT_BULK_INLINE_LIMIT = 2
    spenders(3)
    tag = TagFactory(name="Winter")

    with django_capture_on_commit_callbacks() as callbacks:
        response = marketing.post(
            bulk_url(segment), {"scope": "all", "kind": Kind.ADD_TAG, "tag": tag.pk}
        )
    action = BulkAction.objects.get()
    progress_url = reverse("segments:bulk_action", args=[segment.slug, action.pk])
    assert response["Location"] == progress_url

    waiting = marketing.get(progress_url)
    assert 'hx-trigger="every 2s"' in waiting.content.decode()
    detail = marketing.get(reverse("segments:detail", args=[segment.slug])).content.decode()
    assert progress_url in detail and "A bulk action is running" in detail

    for callback in callbacks:
        callback()  # the task, run in-process
    polled = marketing.get(progress_url, headers={"HX-Request": "true"})

    assert "every 2s" not in polled.content.decode()  # finished: the polling stops
    assert "Tag “Winter” added to 3 customers" in json.loads(polled["HX-Trigger"])["crm:announce"]
    assert "<html" not in polled.content.decode()


def test_a_stopped_action_can_be_run_again_from_its_page(
    segment, marketing, django_capture_on_commit_callbacks
):
    spenders(2)
    tag = TagFactory()
    action = BulkAction.objects.create(
        segment=segment,
        kind=Kind.ADD_TAG,
        tag=tag,
        status=BulkAction.Status.FAILED,
        error="worker lost",
        last_customer_id=Customer.objects.order_by("-pk").first().pk,
    )
    url = reverse("segments:bulk_action", args=[segment.slug, action.pk])
    assert "Run it again" in marketing.get(url).content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        marketing.post(reverse("segments:bulk_action_run", args=[segment.slug, action.pk]))

    action.refresh_from_db()
    assert action.status == BulkAction.Status.SUCCEEDED
    assert CustomerTag.objects.filter(tag=tag).count() == 2


def test_running_again_needs_the_actions_permission(segment, client_with_perms):
    client = client_with_perms("segments.view_segment", "customers.view_customer")
    action = BulkAction.objects.create(
        segment=segment, kind=Kind.ADD_TAG, tag=TagFactory(), status=BulkAction.Status.FAILED
    )

    response = client.post(reverse("segments:bulk_action_run", args=[segment.slug, action.pk]))

    assert response.status_code == 403
    assert BulkAction.objects.get().status == BulkAction.Status.FAILED


def test_an_action_of_another_segment_is_not_found_under_this_one(segment, marketing):
    other = SegmentFactory()
    action = BulkAction.objects.create(segment=other, kind=Kind.ADD_TAG, tag=TagFactory())

    response = marketing.get(reverse("segments:bulk_action", args=[segment.slug, action.pk]))

    assert response.status_code == 404


def test_the_detail_page_query_count_stays_within_budget(segment, marketing, assert_queries):
    spenders(30)
    url = reverse("segments:detail", args=[segment.slug])
    marketing.get(url)

    # session, user with permissions, the segment with its manual count and running action,
    # the capped count, the page's ids, its rows, their tags
    with assert_queries(7):
        marketing.get(url)


def test_the_progress_query_count_is_pinned(segment, marketing, assert_queries):
    action = BulkAction.objects.create(segment=segment, kind=Kind.ADD_TAG, tag=TagFactory())
    url = reverse("segments:bulk_action", args=[segment.slug, action.pk])
    marketing.get(url)

    # session, user with permissions, the action with what it names
    with assert_queries(3):
        marketing.get(url, headers={"HX-Request": "true"})
