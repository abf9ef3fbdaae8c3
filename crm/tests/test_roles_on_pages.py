"""What each staff group sees of a customer: the customer page and every in-place part of it
(orders, notes, tags, the loyalty panel, enrolling, redeeming) render for each group, and no
value of a model the group may not view reaches the response.

The data carries a distinctive value in each model; a group without a model's view permission
must never get that value, whatever the page or partial, whatever its status code."""

from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from core.roles import LOYALTY_MANAGERS, MANAGERS, MARKETING, STAFF_GROUPS
from customers import services
from customers.models import Order
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    TagFactory,
    UserFactory,
)
from loyalty.models import LoyaltyAccount
from loyalty.services.ledger import loyalty_points_adjust
from loyalty.services.redeem import loyalty_reward_redeem
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory, TierFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@dataclass(frozen=True)
class Planted:
    """A value found in one model only, and the permission that shows it."""

    model: str
    permission: str
    value: str


@dataclass
class Shop:
    customer: object
    account: LoyaltyAccount
    other_program: object
    note: object
    tag: object
    planted: list[Planted]


@pytest.fixture
def shop(db) -> Shop:
    customer = CustomerFactory(first_name="Ada", last_name="Byron")
    AddressFactory(
        customer=customer, line1="17 Lanternwick Quay", city="Quillmere", postal_code="QX9 7ZZ"
    )
    note = NoteFactory(customer=customer, body="Prefers the zephyr-scented soap, ask Marguerite")
    tag = TagFactory(name="Obsidian Circle", slug="obsidian-circle")
    services.customer_tag_add(customer=customer, name=tag.name, added_by=None)
    program = LoyaltyProgramFactory(name="Corvid Club")
    TierFactory(program=program, name="Vantablack", threshold=Decimal("0"))
    other_program = LoyaltyProgramFactory(name="Nebula Rewards", auto_enrol=False)
    OrderFactory(customer=customer, number="ORD-QUASAR-88", status=Order.Status.DELIVERED)
    account = LoyaltyAccount.objects.get(customer=customer, program=program)
    manager = UserFactory(username="planter", is_superuser=True)
    loyalty_points_adjust(
        account=account, points=48_567, reason="Goodwill for the heron mix-up", created_by=manager
    )
    reward = RewardFactory(program=program, name="Copper kettle voucher", points_cost=1000)
    redemption = loyalty_reward_redeem(account=account, reward=reward, created_by=manager)
    account.refresh_from_db()
    planted = [
        Planted("address", "customers.view_address", "17 Lanternwick Quay"),
        Planted("address", "customers.view_address", "Quillmere"),
        Planted("note", "customers.view_note", "zephyr-scented soap"),
        Planted("order", "customers.view_order", "ORD-QUASAR-88"),
        Planted("tag", "customers.view_tag", "Obsidian Circle"),
        Planted("loyalty account", "loyalty.view_loyaltyaccount", f"{account.balance:,}"),
        Planted("tier", "loyalty.view_tier", "Vantablack"),
        Planted("ledger", "loyalty.view_loyaltytransaction", "heron mix-up"),
        Planted("reward", "loyalty.view_reward", "Copper kettle voucher"),
        Planted("voucher", "loyalty.view_redemption", redemption.code),
        Planted("program", "loyalty.view_loyaltyprogram", "Nebula Rewards"),
    ]
    return Shop(customer, account, other_program, note, tag, planted)


def pages(shop: Shop) -> dict[str, tuple[str, str, dict]]:
    """Every page and partial that shows a part of the customer page: (method, url, data)."""
    pk = shop.customer.pk
    return {
        "customer page": ("get", reverse("customers:detail", args=[pk]), {}),
        "orders partial": ("get", reverse("customers:orders", args=[pk]), {}),
        "notes partial": ("get", reverse("customers:notes", args=[pk]), {}),
        "note added": ("post", reverse("customers:notes", args=[pk]), {"body": "Called back"}),
        "note pinned": ("post", reverse("customers:note_pin", args=[shop.note.pk]), {}),
        "tag added": ("post", reverse("customers:tag_add", args=[pk]), {"name": shop.tag.name}),
        "loyalty enrol options": ("get", reverse("loyalty:enrol_options", args=[pk]), {}),
        "loyalty enrolled": (
            "post",
            reverse("loyalty:enrol", args=[pk, shop.other_program.pk]),
            {},
        ),
        "loyalty redeem": ("get", reverse("loyalty:redeem", args=[shop.account.pk]), {}),
        "loyalty redeem refused": (
            "post",
            reverse("loyalty:redeem", args=[shop.account.pk]),
            {"reward": "999999"},
        ),
    }


def rendered(client, shop: Shop) -> dict[str, tuple[int, str]]:
    """Each page as the client sees it, as htmx asks for the partials."""
    responses = {}
    for name, (method, url, data) in pages(shop).items():
        response = getattr(client, method)(url, data, **HTMX)
        responses[name] = (response.status_code, response.content.decode())
    return responses


def member(group_name: str):
    user = UserFactory(username=f"member-of-{group_name.lower().replace(' ', '-')}")
    user.groups.add(Group.objects.get(name=group_name))
    return user


def leaks(user, shop: Shop, responses) -> set[tuple[str, str]]:
    """(page, model) for every planted value of a model the user may not view that a page shows."""
    return {
        (page, planted.model)
        for planted in shop.planted
        if not user.has_perm(planted.permission)
        for page, (_, content) in responses.items()
        if planted.value in content
    }


@pytest.mark.parametrize("group_name", STAFF_GROUPS)
def test_no_page_shows_a_value_the_group_may_not_view(client, shop, group_name):
    user = member(group_name)
    client.force_login(user)

    responses = rendered(client, shop)

    assert responses["customer page"][0] == 200
    assert leaks(user, shop, responses) == set()


def test_managers_see_every_planted_value(client, shop):
    """The values are really on the pages: a group allowed everything finds each of them."""
    client.force_login(member(MANAGERS))

    responses = rendered(client, shop)

    everything = "".join(content for _, content in responses.values())
    assert [planted.value for planted in shop.planted if planted.value not in everything] == []


@pytest.mark.parametrize("group_name", [MARKETING, LOYALTY_MANAGERS])
def test_a_group_without_the_address_permission_sees_no_address_card(client, shop, group_name):
    client.force_login(member(group_name))

    content = client.get(reverse("customers:detail", args=[shop.customer.pk])).content.decode()

    assert "17 Lanternwick Quay" not in content
    assert ">Addresses<" not in content


def test_a_group_without_the_tag_permission_sees_no_tags_card(client, shop):
    client.force_login(member(LOYALTY_MANAGERS))

    content = client.get(reverse("customers:detail", args=[shop.customer.pk])).content.decode()

    assert 'id="tags-panel"' not in content
