"""The staff actions behind the loyalty panel: redeem a reward, enrol a customer."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty.models import LoyaltyAccount, LoyaltyTransaction, Redemption
from loyalty.tests.factories import (
    LoyaltyAccountFactory,
    LoyaltyProgramFactory,
    RewardFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def club():
    program = LoyaltyProgramFactory(name="Club")
    standard_tiers(program)
    return program


@pytest.fixture
def account(club):
    """A member with 250 points to spend."""
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")
    OrderFactory(customer=customer, status="delivered", total=Decimal("250.00"))
    return LoyaltyAccount.objects.get(customer=customer, program=club)


def redeem_url(account):
    return reverse("loyalty:redeem", args=[account.pk])


def detail_url(customer):
    return reverse("customers:detail", args=[customer.pk])


def balance_of(account):
    account.refresh_from_db()
    return account.balance


# Redeem ------------------------------------------------------------------------------------------


def test_redeem_page_lists_only_rewards_available_today(client_in_group, account, club):
    yesterday = timezone.localdate() - timedelta(days=1)
    RewardFactory(program=club, name="Free coffee", points_cost=100, stock=3)
    RewardFactory(program=club, name="Weekend away", points_cost=5000)
    RewardFactory(program=club, name="Retired mug", is_active=False)
    RewardFactory(program=club, name="Last summer", valid_until=yesterday)
    RewardFactory(program=club, name="Sold out scarf", stock=0)
    RewardFactory(name="Other program's gift")
    client = client_in_group("Support")

    response = client.get(redeem_url(account))

    html = response.content.decode()
    assert response.status_code == 200
    assert [reward.name for reward in response.context["rewards"]] == [
        "Free coffee",
        "Weekend away",
    ]
    for hidden in ("Retired mug", "Last summer", "Sold out scarf", "Other program's gift"):
        assert hidden not in html
    assert "Redeem for 100 points" in html
    weekend = html[html.index("Weekend away") :]
    assert "disabled" in weekend[: weekend.index("</li>")]
    assert "4,750 more needed" in weekend


def test_redeem_asks_to_confirm_naming_the_reward_and_points_and_spends_nothing(
    client_in_group, account, club
):
    reward = RewardFactory(program=club, name="Coffee", points_cost=10, stock=5)
    client = client_in_group("Support")

    response = client.post(redeem_url(account), {"reward": reward.pk})

    html = response.content.decode()
    assert response.status_code == 200
    assert "<title>Redeem Coffee for 10 points?" in html
    assert '<h1 class="h3">Redeem Coffee for 10 points?</h1>' in html
    assert "The balance goes from 250 to 240 points" in html
    confirm = html[html.index('data-loyalty="confirm"') :]
    assert f'<input type="hidden" name="reward" value="{reward.pk}">' in confirm
    assert '<input type="hidden" name="confirm" value="yes">' in confirm
    assert "autofocus" in confirm[: confirm.index(">Redeem Coffee for 10 points</button>")]
    assert f'href="{redeem_url(account)}"' in confirm  # choose another reward instead
    assert balance_of(account) == 250
    assert not Redemption.objects.exists()
    assert not LoyaltyTransaction.objects.filter(kind="redeem").exists()
    reward.refresh_from_db()
    assert reward.stock == 5


def test_the_confirmation_of_a_reward_out_of_reach_offers_no_button(client_in_group, account, club):
    reward = RewardFactory(program=club, name="Weekend away", points_cost=5000)
    client = client_in_group("Support")

    html = client.post(redeem_url(account), {"reward": reward.pk}).content.decode()

    assert "needs 4,750 more points for it" in html
    assert "Redeem Weekend away for 5,000 points</button>" not in html
    assert not Redemption.objects.exists()


def test_the_rewards_list_posts_to_the_confirmation_step(client_in_group, account, club):
    RewardFactory(program=club, name="Coffee", points_cost=10)
    client = client_in_group("Support")

    html = client.get(redeem_url(account)).content.decode()

    assert 'name="confirm"' not in html
    assert "Redeem for 10 points</button>" in html


def test_redeem_spends_points_and_shows_the_voucher_code(client_in_group, account, club):
    reward = RewardFactory(program=club, name="10% off", points_cost=100, stock=5)
    client = client_in_group("Support")

    response = client.post(
        redeem_url(account), {"reward": reward.pk, "confirm": "yes"}, follow=True
    )

    redemption = Redemption.objects.get(account=account)
    assert response.redirect_chain == [(detail_url(account.customer), 302)]
    html = response.content.decode()
    assert f'fs-5 text-nowrap user-select-all">{redemption.code}</strong>' in html
    assert "Redeemed 10% off for 100 points" in html
    assert balance_of(account) == 150
    assert redemption.reward == reward
    assert redemption.created_by == response.context["user"]
    reward.refresh_from_db()
    assert reward.stock == 4


def test_redeem_with_too_few_points_says_so_and_changes_nothing(client_in_group, account, club):
    reward = RewardFactory(program=club, name="Weekend away", points_cost=5000)
    client = client_in_group("Support")

    response = client.post(redeem_url(account), {"reward": reward.pk, "confirm": "yes"})

    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was redeemed." in html
    assert "Not enough points: Weekend away costs 5000, the balance is 250." in html
    assert balance_of(account) == 250
    assert not Redemption.objects.exists()
    assert not LoyaltyTransaction.objects.filter(kind="redeem").exists()


def test_redeem_of_a_reward_that_sold_out_meanwhile_says_so(client_in_group, account, club):
    reward = RewardFactory(program=club, name="Scarf", points_cost=100, stock=0)
    client = client_in_group("Support")

    response = client.post(redeem_url(account), {"reward": reward.pk, "confirm": "yes"})

    assert "Scarf is out of stock." in response.content.decode()
    assert balance_of(account) == 250
    assert not Redemption.objects.exists()


def test_redeem_of_an_expired_reward_says_so(client_in_group, account, club):
    yesterday = timezone.localdate() - timedelta(days=1)
    reward = RewardFactory(program=club, name="Summer deal", valid_until=yesterday)
    client = client_in_group("Support")

    response = client.post(redeem_url(account), {"reward": reward.pk, "confirm": "yes"})

    assert "Summer deal expired on" in response.content.decode()
    assert balance_of(account) == 250
    assert not Redemption.objects.exists()


def test_the_error_is_shown_at_the_reward_chosen(client_in_group, account, club):
    reward = RewardFactory(program=club, name="Weekend away", points_cost=5000)
    client = client_in_group("Support")

    html = client.post(
        redeem_url(account), {"reward": reward.pk, "confirm": "yes"}
    ).content.decode()

    item = html[html.index(f'data-reward="{reward.pk}"') :]
    item = item[: item.index("</li>")]
    assert '<div class="text-danger small mt-1">Not enough points' in item


def test_redeem_refuses_another_programs_reward(client_in_group, account):
    foreign = RewardFactory(name="Elsewhere", points_cost=10)
    client = client_in_group("Support")

    response = client.post(redeem_url(account), {"reward": foreign.pk})

    assert "Choose one of this program&#x27;s rewards." in response.content.decode()
    assert balance_of(account) == 250
    assert not Redemption.objects.exists()


def test_redeem_without_a_reward_asks_for_one(client_in_group, account):
    client = client_in_group("Support")

    response = client.post(redeem_url(account), {})

    assert "Choose a reward." in response.content.decode()
    assert not Redemption.objects.exists()


def test_redeem_page_needs_login(client, account):
    response = client.get(redeem_url(account))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_redeem_needs_the_redemption_permission(client_with_perms, account, club):
    reward = RewardFactory(program=club, points_cost=100)
    client = client_with_perms("customers.view_customer", "loyalty.view_loyaltyaccount")

    page = client.get(redeem_url(account))
    post = client.post(redeem_url(account), {"reward": reward.pk, "confirm": "yes"})

    assert page.status_code == 403
    assert "250" not in page.content.decode()
    assert post.status_code == 403
    assert balance_of(account) == 250
    assert not Redemption.objects.exists()


# Enrol -------------------------------------------------------------------------------------------


def enrol_url(customer, program):
    return reverse("loyalty:enrol", args=[customer.pk, program.pk])


def test_enrol_makes_the_customer_a_member(client_in_group, club):
    customer = CustomerFactory()
    client = client_in_group("Managers")

    response = client.post(enrol_url(customer, club), follow=True)

    account = LoyaltyAccount.objects.get(customer=customer, program=club)
    assert account.tier.name == "Bronze"
    assert response.redirect_chain == [(detail_url(customer), 302)]
    html = response.content.decode()
    assert f"{customer} is a member of Club." in html
    assert "Not a member" not in html


def test_enrol_with_htmx_replaces_the_panel(client_in_group, club):
    customer = CustomerFactory()
    client = client_in_group("Managers")

    response = client.post(enrol_url(customer, club), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="loyalty-panel">')
    assert f"{customer} is a member of Club." in html
    assert 'data-loyalty="balance"' in html
    assert LoyaltyAccount.objects.filter(customer=customer, program=club).exists()


def test_enrol_refuses_a_customer_who_opted_out(client_in_group, club):
    customer = CustomerFactory(can_receive_loyalty=False)
    client = client_in_group("Managers")

    response = client.post(enrol_url(customer, club), follow=True)
    htmx = client.post(enrol_url(customer, club), **HTMX)

    message = f"Could not enrol: {customer} has opted out of loyalty programs"
    assert message in response.content.decode()
    assert message in htmx.content.decode()
    assert "Not a member: opted out of loyalty programs." in htmx.content.decode()
    assert not LoyaltyAccount.objects.exists()


def test_enrol_refuses_a_program_that_is_not_running(client_in_group):
    ended = LoyaltyProgramFactory(name="Summer", ends_on=timezone.localdate() - timedelta(days=1))
    customer = CustomerFactory()
    client = client_in_group("Managers")

    response = client.post(enrol_url(customer, ended), follow=True)

    assert "Could not enrol: Summer is not running today." in response.content.decode()
    assert not LoyaltyAccount.objects.exists()


def test_enrol_permissions(client, client_in_group, club):
    customer = CustomerFactory()
    url = enrol_url(customer, club)

    anonymous = client.post(url)
    support = client_in_group("Support").post(url)
    get = client_in_group("Managers").get(url)

    assert anonymous.status_code == 302
    assert anonymous.url.startswith(reverse("login"))
    assert support.status_code == 403
    assert get.status_code == 405
    assert not LoyaltyAccount.objects.exists()


def test_member_can_enrol_in_other_running_programs(client_in_group, account, club):
    vip = LoyaltyProgramFactory(name="VIP club", auto_enrol=False)
    LoyaltyProgramFactory(name="Paused", is_active=False)
    client = client_in_group("Managers")
    options_url = reverse("loyalty:enrol_options", args=[account.customer_id])

    page = client.get(detail_url(account.customer)).content.decode()
    options = client.get(options_url, **HTMX).content.decode()

    assert f'hx-get="{options_url}"' in page
    assert "Enrol in VIP club" in options
    assert enrol_url(account.customer, vip) in options
    assert "Enrol in Club" not in options
    assert "Paused" not in options


def test_enrol_options_permissions(client, client_in_group, account):
    url = reverse("loyalty:enrol_options", args=[account.customer_id])

    anonymous = client.get(url)
    support = client_in_group("Support").get(url)

    assert anonymous.status_code == 302
    assert anonymous.url.startswith(reverse("login"))
    assert support.status_code == 403
    assert "Club" not in support.content.decode()


def test_support_sees_no_enrol_options_on_a_members_page(client_in_group, account):
    LoyaltyProgramFactory(name="VIP club")

    page = client_in_group("Support").get(detail_url(account.customer)).content.decode()

    assert reverse("loyalty:enrol_options", args=[account.customer_id]) not in page


def test_an_unknown_account_is_not_found(client_in_group):
    client = client_in_group("Support")

    response = client.get(reverse("loyalty:redeem", args=[LoyaltyAccountFactory().pk + 1]))

    assert response.status_code == 404


# In a browser ------------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_support_redeems_a_reward_on_a_phone(page, live_server, axe):
    import re

    from django.contrib.auth.models import Group
    from playwright.sync_api import expect

    from customers.tests.factories import UserFactory

    UserFactory(username="sam").groups.add(Group.objects.get(name="Support"))
    program = LoyaltyProgramFactory(name="Club")
    standard_tiers(program)
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")
    OrderFactory(customer=customer, status="delivered", total=Decimal("620.00"))
    RewardFactory(program=program, name="10% off", points_cost=500)
    RewardFactory(program=program, name="Weekend away", points_cost=50000)
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(reduced_motion="reduce")  # axe reads colours after, not during, a fade
    page.goto(f"{live_server.url}/accounts/login/?next={detail_url(customer)}")
    axe()
    page.get_by_label("Username").fill("sam")
    page.get_by_label("Password").fill("password")
    page.get_by_role("button", name="Log in").click()

    panel = page.locator("#panel-loyalty")
    expect(panel).to_contain_text("620 of 2,000 points to Gold")
    axe()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    panel.get_by_role("link", name="Redeem a reward").click()
    expect(page.get_by_role("button", name="50,000 points")).to_be_disabled()
    axe()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name="Redeem for 500 points").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Redeem 10% off for 500 points?")
    confirm = page.get_by_role("button", name="Redeem 10% off for 500 points")
    expect(confirm).to_be_focused()
    expect(confirm).to_have_accessible_description(re.compile("from 620 to 120 points"))
    axe()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not Redemption.objects.exists()
    confirm.click()

    code = Redemption.objects.get().code
    expect(page.get_by_role("alert")).to_contain_text(f"Voucher code: {code}")
    expect(page.locator("#live-region")).to_have_text(
        f"Redeemed 10% off for 500 points. Voucher code: {code}"
    )
    expect(page.locator('#panel-loyalty [data-loyalty="balance"]')).to_contain_text("120")
    expect(page.locator('#panel-loyalty [data-loyalty="vouchers"]')).to_contain_text(code)
    axe()


def test_points_owed_show_on_the_panel_and_the_redeem_page(client_in_group, club):
    from customers import services as customer_services
    from loyalty import services

    customer = CustomerFactory()
    order = OrderFactory(customer=customer, total=Decimal("250.00"))
    customer_services.order_set_status(order=order, status="delivered")
    account = LoyaltyAccount.objects.get(customer=customer, program=club)
    services.loyalty_reward_redeem(
        account=account, reward=RewardFactory(program=club, points_cost=200)
    )
    customer_services.order_set_status(order=order, status="returned")
    client = client_in_group("Support")

    panel = client.get(detail_url(customer)).content.decode()
    redeem = client.get(redeem_url(account)).content.decode()

    for page in (panel, redeem):
        assert 'data-loyalty="owed"' in page
        assert "200 points owed" in page
