"""Tags in the admin: how many customers carry each, and merging several into one."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers import services
from customers.models import CustomerTag, Tag, TagRemoval
from customers.tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:customers_tag_changelist")


def tagged(*tags):
    customer = CustomerFactory()
    for tag in tags:
        customer.tags.add(tag, through_defaults={})
    return customer


def carriers(tag) -> set[int]:
    return set(CustomerTag.objects.filter(tag=tag).values_list("customer_id", flat=True))


def test_merging_moves_every_carrier_to_the_target_and_deletes_the_sources(admin_user):
    wholesale, trade = TagFactory(name="Wholesale"), TagFactory(name="Trade")
    b2b = TagFactory(name="B2B")
    both = tagged(wholesale, trade)
    only_trade = tagged(trade)
    only_b2b = tagged(b2b)
    untouched = tagged()
    services.customer_tag_remove(customer=tagged(trade), tag=trade)

    gained = services.tags_merge(sources=[trade, b2b], target=wholesale, merged_by=admin_user)

    assert gained == 2
    assert carriers(wholesale) == {both.pk, only_trade.pk, only_b2b.pk}
    assert not Tag.objects.filter(pk__in=[trade.pk, b2b.pk]).exists()
    assert not TagRemoval.objects.exists()
    assert untouched.tags.count() == 0
    link = CustomerTag.objects.get(customer=only_b2b, tag=wholesale)
    assert link.added_by == admin_user


def test_merging_again_or_into_itself_changes_nothing():
    wholesale, trade = TagFactory(name="Wholesale"), TagFactory(name="Trade")
    tagged(trade)
    services.tags_merge(sources=[trade], target=wholesale)

    with pytest.raises(ValidationError):
        services.tags_merge(sources=[wholesale], target=wholesale)
    assert len(carriers(wholesale)) == 1
    assert Tag.objects.filter(pk=wholesale.pk).exists()


def test_the_changelist_counts_the_customers_of_each_tag(admin_client, assert_queries):
    vip, trade = TagFactory(name="VIP"), TagFactory(name="Trade")
    for _ in range(3):
        tagged(vip)
    tagged(vip, trade)

    # session, user, the tags counted (filtered and in all), the page of tags with their counts
    with assert_queries(5):
        response = admin_client.get(CHANGELIST)

    counts = {tag.name: tag.customer_count for tag in response.context["cl"].result_list}
    assert counts == {"VIP": 4, "Trade": 1}


def test_the_merge_action_asks_for_the_target_then_merges(admin_client):
    vip, trade = TagFactory(name="VIP"), TagFactory(name="Trade")
    customer = tagged(trade)
    selected = {"action": "merge", ACTION_CHECKBOX_NAME: [vip.pk, trade.pk]}

    asked = admin_client.post(CHANGELIST, selected)
    done = admin_client.post(CHANGELIST, {**selected, "apply": "Merge", "target": vip.pk})

    assert asked.status_code == 200
    assert "Choose the tag to keep" in asked.content.decode()
    assert Tag.objects.filter(pk=trade.pk).exists() is False
    assert done.status_code == 302
    assert carriers(vip) == {customer.pk}


def test_merging_one_tag_alone_is_refused_with_a_message(admin_client):
    vip = TagFactory(name="VIP")

    response = admin_client.post(
        CHANGELIST, {"action": "merge", ACTION_CHECKBOX_NAME: [vip.pk]}, follow=True
    )

    assert "Select at least two tags to merge." in response.content.decode()
    assert Tag.objects.filter(pk=vip.pk).exists()
