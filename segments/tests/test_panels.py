"""The "Segments" panel on the customer page."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.testing import elements
from customers.tests.factories import CustomerFactory
from segments.models import Segment
from segments.panels import customer_segments
from segments.tests.factories import (
    SegmentFactory,
    SegmentMembershipFactory,
    all_of,
    any_of,
    condition,
)

pytestmark = pytest.mark.django_db

BIG_SPENDERS = all_of(condition("total_spent", "gte", 500))


def detail_url(customer) -> str:
    return reverse("customers:detail", args=[customer.pk])


def panel_context(response) -> dict | None:
    return {panel.key: context for panel, context in response.context["panels"]}.get("segments")


def shown(response) -> dict[str, str]:
    """The segments the panel lists: slug -> the address its link goes to."""
    links, slug = {}, None
    for tag, found in elements(response):
        if found.get("data-segment"):
            slug = found["data-segment"]
        elif tag == "a" and slug:
            links[slug], slug = found["href"], None
    return links


@pytest.fixture
def segment_viewer(client_with_perms):
    return client_with_perms("customers.view_customer", "segments.view_segment")


def test_a_member_by_rules_is_listed_with_a_link_to_the_segment(segment_viewer):
    customer = CustomerFactory(total_spent=Decimal("600.00"))
    segment = SegmentFactory(name="Big spenders", slug="big-spenders", rules=BIG_SPENDERS)

    response = segment_viewer.get(detail_url(customer))

    assert response.status_code == 200
    assert shown(response)["big-spenders"] == reverse("segments:detail", args=[segment.slug])
    [listed] = [s for s in panel_context(response)["segments"] if s.pk == segment.pk]
    assert not listed.added_by_hand
    assert 'data-segment-note="manual"' not in response.content.decode()


def test_a_member_added_by_hand_is_listed_as_such(segment_viewer):
    customer = CustomerFactory(total_spent=Decimal("10.00"))
    segment = SegmentFactory(name="Hand picked", slug="hand-picked", rules=BIG_SPENDERS)
    SegmentMembershipFactory(segment=segment, customer=customer)

    response = segment_viewer.get(detail_url(customer))

    assert "hand-picked" in shown(response)
    html = response.content.decode()
    assert 'data-segment-note="manual">· added by hand</span>' in html


def test_a_member_by_rules_and_by_hand_is_listed_once(segment_viewer):
    customer = CustomerFactory(total_spent=Decimal("600.00"))
    segment = SegmentFactory(slug="both-ways", rules=BIG_SPENDERS)
    SegmentMembershipFactory(segment=segment, customer=customer)

    response = segment_viewer.get(detail_url(customer))

    assert [s.slug for s in panel_context(response)["segments"]].count("both-ways") == 1


def test_segments_the_customer_is_not_in_are_left_out(segment_viewer):
    customer = CustomerFactory(total_spent=Decimal("10.00"))
    SegmentFactory(slug="big-spenders", rules=BIG_SPENDERS)
    SegmentFactory(slug="no-rules", rules={})
    # Someone else's manual membership does not make this customer a member.
    SegmentMembershipFactory(segment=SegmentFactory(slug="other-hand-picked", rules={}))

    response = segment_viewer.get(detail_url(customer))

    assert {"big-spenders", "no-rules", "other-hand-picked"}.isdisjoint(shown(response))


def test_rules_are_read_for_this_customer_only(segment_viewer):
    customer = CustomerFactory(total_spent=Decimal("10.00"))
    CustomerFactory(total_spent=Decimal("900.00"))
    SegmentFactory(slug="big-spenders", rules=BIG_SPENDERS)

    response = segment_viewer.get(detail_url(customer))

    assert "big-spenders" not in shown(response)


def test_a_customer_in_no_segment_is_told_so(segment_viewer):
    # One order counted and nothing else known: none of the pre-built segments' rules match.
    customer = CustomerFactory(order_count=1)

    response = segment_viewer.get(detail_url(customer))

    assert panel_context(response) == {"segments": []}
    assert "In no segment." in response.content.decode()


def test_a_segment_whose_rules_no_longer_compile_is_skipped(segment_viewer):
    customer = CustomerFactory(total_spent=Decimal("600.00"))
    broken = SegmentFactory(slug="broken", rules=BIG_SPENDERS)
    SegmentMembershipFactory(segment=broken, customer=customer)
    # As when the app that registered a field is removed: saved rules naming a field no more.
    Segment.objects.filter(pk=broken.pk).update(
        rules=all_of(condition("field_of_a_removed_app", "eq", 1))
    )
    SegmentFactory(slug="big-spenders", rules=BIG_SPENDERS)

    response = segment_viewer.get(detail_url(customer))

    assert response.status_code == 200
    assert "broken" not in shown(response)
    assert "big-spenders" in shown(response)


def test_a_user_without_the_segment_permission_sees_no_panel(client_with_perms):
    customer = CustomerFactory(total_spent=Decimal("600.00"))
    SegmentFactory(slug="big-spenders", rules=BIG_SPENDERS)
    client = client_with_perms("customers.view_customer")

    response = client.get(detail_url(customer))

    assert response.status_code == 200
    assert panel_context(response) is None
    assert 'id="panel-segments"' not in response.content.decode()
    assert shown(response) == {}


def test_membership_takes_two_queries_whatever_the_number_of_segments(
    django_assert_num_queries,
):
    customer = CustomerFactory(total_spent=Decimal("600.00"), order_count=3)
    SegmentFactory(slug="big-spenders", rules=BIG_SPENDERS)
    with django_assert_num_queries(2):  # the segments, then this customer against their rules
        few = customer_segments(customer)

    for number in range(40):
        segment = SegmentFactory(
            rules=any_of(
                condition("order_count", "gte", number),
                condition("tags", "has_any", [f"tag-{number}"]),
            )
        )
        if number % 10 == 0:
            SegmentMembershipFactory(segment=segment, customer=customer)
    with django_assert_num_queries(2):
        many = customer_segments(customer)

    assert "big-spenders" in {segment.slug for segment in few}
    added = {segment.slug for segment in many if segment.added_by_hand}
    by_rules = {segment.slug for segment in many} - {segment.slug for segment in few}
    assert len(added) == 4
    # order_count >= 0..3 match by rules, and 0 was also added by hand: 3 more plus 3 by hand.
    assert len(by_rules) == 7


def test_the_page_costs_the_same_whatever_the_number_of_segments(client_in_group):
    customer = CustomerFactory(total_spent=Decimal("600.00"))
    client = client_in_group("Support")
    SegmentFactory(rules=BIG_SPENDERS)
    with CaptureQueriesContext(connection) as few:
        client.get(detail_url(customer))

    SegmentFactory.create_batch(30, rules=BIG_SPENDERS)
    with CaptureQueriesContext(connection) as many:
        response = client.get(detail_url(customer))

    assert len(many.captured_queries) == len(few.captured_queries)
    assert len(panel_context(response)["segments"]) >= 31


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_on_a_phone_the_panel_lists_the_segments_and_opens_one(page, live_server, axe):
    from django.contrib.auth.models import Group

    from customers.tests.factories import UserFactory

    UserFactory(username="sam").groups.add(Group.objects.get(name="Support"))
    customer = CustomerFactory(total_spent=Decimal("600.00"), order_count=3)
    SegmentFactory(name="Big spenders", slug="big-spenders", rules=BIG_SPENDERS)
    SegmentMembershipFactory(
        segment=SegmentFactory(name="Newsletter readers", slug="newsletter-readers", rules={}),
        customer=customer,
    )
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/accounts/login/?next={detail_url(customer)}")
    axe()
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{detail_url(customer)}")
    axe()

    panel = page.locator("#panel-segments")
    assert panel.get_by_role("heading").inner_text() == "Segments"
    assert panel.locator("[data-segment]").all_inner_texts() == [
        "Big spenders",
        "Newsletter readers · added by hand",
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    panel.get_by_role("link", name="Big spenders").click()
    page.wait_for_url(f"**{reverse('segments:detail', args=['big-spenders'])}")
    axe()
