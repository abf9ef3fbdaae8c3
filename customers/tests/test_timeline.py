"""The customers app's timeline entries: tags added, and tags removed with the addition they end."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers import services
from customers.models import CustomerTag, TagRemoval
from customers.tests.factories import CustomerFactory, TagFactory, UserFactory
from customers.timeline import tag_entries

pytestmark = pytest.mark.django_db


def titles(customer, limit=30):
    return [entry.title for entry in sorted(tag_entries(customer, limit), reverse=True)]


def test_a_removed_tag_shows_its_removal_and_keeps_its_addition():
    customer = CustomerFactory()
    vip = TagFactory(name="VIP")
    ann, bob = UserFactory(username="ann"), UserFactory(username="bob")
    services.customer_tag_add(customer=customer, name="VIP", added_by=ann)

    removed = services.customer_tag_remove(customer=customer, tag=vip, removed_by=bob)

    assert removed is True
    assert not CustomerTag.objects.filter(customer=customer).exists()
    assert titles(customer) == ["Tag VIP removed by bob", "Tagged VIP by ann"]
    removal = TagRemoval.objects.get()
    assert removal.added_by == ann
    assert removal.added_at <= removal.removed_at <= timezone.now()


def test_a_tag_added_again_after_its_removal_shows_the_whole_story():
    customer = CustomerFactory()
    vip = TagFactory(name="VIP")
    services.customer_tag_add(customer=customer, name="VIP")
    services.customer_tag_remove(customer=customer, tag=vip)
    TagRemoval.objects.update(
        added_at=timezone.now() - timedelta(days=2), removed_at=timezone.now() - timedelta(days=1)
    )

    services.customer_tag_add(customer=customer, name="VIP")

    assert titles(customer) == ["Tagged VIP", "Tag VIP removed", "Tagged VIP"]


def test_removing_a_tag_the_customer_does_not_carry_records_nothing():
    customer = CustomerFactory()
    vip = TagFactory(name="VIP")
    other = CustomerFactory()
    other.tags.add(vip)

    removed = services.customer_tag_remove(customer=customer, tag=vip)

    assert removed is False
    assert not TagRemoval.objects.exists()
    assert titles(customer) == []
    assert other.tags.get() == vip


def test_a_removal_appears_on_the_customer_page_timeline(client_in_group):
    customer = CustomerFactory()
    vip = TagFactory(name="VIP")
    customer.tags.add(vip)
    client = client_in_group("Support")

    client.post(reverse("customers:tag_remove", args=[customer.pk, vip.pk]))
    page = client.get(reverse("customers:detail", args=[customer.pk]))

    entries = [(entry.kind, entry.title) for entry in page.context["timeline"]]
    user = page.context["user"].get_username()
    assert ("tag", f"Tag VIP removed by {user}") in entries
    assert ("tag", "Tagged VIP") in entries
    assert f"Tag VIP removed by {user}" in page.content.decode()


def test_the_newest_removals_are_read_up_to_the_limit():
    customer = CustomerFactory()
    tags = [TagFactory(name=f"T{n}") for n in range(5)]
    for tag in tags:
        customer.tags.add(tag)
        services.customer_tag_remove(customer=customer, tag=tag)

    entries = list(tag_entries(customer, 2))

    removals = [entry.title for entry in entries if "removed" in entry.title]
    assert removals == ["Tag T4 removed", "Tag T3 removed"]
