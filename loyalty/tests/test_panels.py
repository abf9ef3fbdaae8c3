"""Loyalty on the customer page (panel and timeline) and on the dashboard (card)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.tests.factories import CustomerFactory, NoteFactory, OrderFactory, UserFactory
from loyalty import services
from loyalty.models import LoyaltyAccount, LoyaltyTransaction
from loyalty.panels import loyalty_card_context, loyalty_panel_context, transaction_title
from loyalty.tests.factories import (
    LoyaltyAccountFactory,
    LoyaltyProgramFactory,
    RewardFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db

DETAIL_QUERY_BUDGET = 20


def detail_url(customer):
    return reverse("customers:detail", args=[customer.pk])


def deliver(customer, total):
    return OrderFactory(customer=customer, status="delivered", total=Decimal(total))


def text_of(html, marker):
    """The visible text of the element carrying ``marker``, tags stripped, spaces collapsed."""
    start = html.index(">", html.index(marker)) + 1
    end = html.index("</div>\n", start)
    return " ".join(re.sub(r"<[^>]+>", " ", html[start:end]).split())


@pytest.fixture
def club():
    program = LoyaltyProgramFactory(name="Club")
    standard_tiers(program)
    return program


@pytest.fixture
def member(club):
    """250 points to spend, 120 pending for 14 days, a 100-point voucher issued."""
    customer = CustomerFactory(first_name="Grace", last_name="Hopper")
    deliver(customer, "250.00")
    club.pending_days = 14
    club.save(update_fields=["pending_days"])
    deliver(customer, "120.00")
    account = LoyaltyAccount.objects.get(customer=customer, program=club)
    reward = RewardFactory(program=club, name="10% off", points_cost=100)
    redemption = services.loyalty_reward_redeem(account=account, reward=reward)
    account.refresh_from_db()
    return account, redemption


def test_panel_shows_balance_pending_tier_progress_recent_rows_and_vouchers(
    client_in_group, member
):
    account, redemption = member
    available_from = timezone.localtime(timezone.now() + timedelta(days=14))
    client = client_in_group("Support")

    response = client.get(detail_url(account.customer))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-loyalty"' in html
    assert text_of(html, 'data-loyalty="balance"') == "Balance 150 points to spend"
    assert text_of(html, 'data-loyalty="pending"') == (
        f"Pending 120 available from {available_from:%-d %b %Y}"
    )
    assert text_of(html, 'data-loyalty="earned"') == "Earned 370 lifetime"
    assert text_of(html, 'data-loyalty="redeemed"') == "Redeemed 100 lifetime"
    assert "370 of 500 points to Silver" in html
    assert 'aria-valuenow="74"' in html
    assert 'data-loyalty="tier">Bronze<' in html
    recent = html[html.index('data-loyalty="recent"') : html.index('data-loyalty="vouchers"')]
    assert recent.count("<li") == 3
    assert "-100" in recent and "+120" in recent and "+250" in recent
    assert f"10% off ({redemption.code})" in recent
    vouchers = html[html.index('data-loyalty="vouchers"') :]
    assert redemption.code in vouchers[: vouchers.index("</ul>")]
    assert reverse("loyalty:redeem", args=[account.pk]) in html


def test_recent_rows_are_the_newest_five_and_a_reversal_shows_its_shortfall(client_in_group, club):
    customer = CustomerFactory()
    order = deliver(customer, "300.00")
    account = LoyaltyAccount.objects.get(customer=customer)
    reward = RewardFactory(program=club, name="Sofa voucher", points_cost=250)
    services.loyalty_reward_redeem(account=account, reward=reward)
    for number in range(4):
        services.loyalty_points_adjust(
            account=account, points=1, reason=f"Goodwill {number}", created_by=None
        )
    order.status = "returned"
    order.save()
    client = client_in_group("Support")

    html = client.get(detail_url(customer)).content.decode()

    recent = html[html.index('data-loyalty="recent"') :]
    recent = recent[: recent.index("</ul>")]
    assert recent.count("<li") == 5
    assert "Sofa voucher" not in recent  # the redemption is the sixth newest row
    assert "Goodwill 0" in recent
    assert "(246 already spent, now owed)" in recent


def test_only_vouchers_still_to_use_are_listed(client_in_group, club):
    customer = CustomerFactory()
    deliver(customer, "400.00")
    account = LoyaltyAccount.objects.get(customer=customer)
    reward = RewardFactory(program=club, points_cost=10)
    issued, used, cancelled = (
        services.loyalty_reward_redeem(account=account, reward=reward) for _ in range(3)
    )
    services.loyalty_redemption_mark_used(redemption=used)
    services.loyalty_redemption_cancel(redemption=cancelled)
    for _ in range(6):
        services.loyalty_points_adjust(account=account, points=1, reason="Later", created_by=None)
    client = client_in_group("Support")

    html = client.get(detail_url(customer)).content.decode()

    vouchers = html[html.index('data-loyalty="vouchers"') :]
    vouchers = vouchers[: vouchers.index("</ul>")]
    assert issued.code in vouchers  # older than the recent rows, still listed
    assert used.code not in vouchers
    assert cancelled.code not in vouchers


def test_tier_progress_follows_the_programs_tier_basis(client_in_group):
    program = LoyaltyProgramFactory(name="Spenders", tier_basis="spend_12m")
    standard_tiers(program)
    customer = CustomerFactory()
    deliver(customer, "120.00")
    old = deliver(customer, "900.00")
    old.placed_at = timezone.now() - timedelta(days=400)
    old.save(update_fields=["placed_at"])
    client = client_in_group("Support")

    html = client.get(detail_url(customer)).content.decode()

    # Only last year's spend counts; the tier itself (Silver, from the earlier earn) is kept.
    assert "120.00 of 2,000.00 spent in the last 12 months to Gold" in html


def test_top_tier_has_no_next_tier(client_in_group, club):
    customer = CustomerFactory()
    deliver(customer, "5000.00")
    client = client_in_group("Support")

    html = client.get(detail_url(customer)).content.decode()

    assert 'data-loyalty="tier">Platinum<' in html
    assert "Top tier; 5,000 points" in html
    assert 'aria-label="Progress to' not in html


def test_panel_is_hidden_without_the_view_permission(client_with_perms, member):
    account, redemption = member
    client = client_with_perms("customers.view_customer")

    response = client.get(detail_url(account.customer))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-loyalty"' not in html
    assert redemption.code not in html
    assert "loyalty" not in [entry.kind for entry in response.context["timeline"]]


def test_viewer_without_redeem_permission_gets_no_redeem_button(client_with_perms, member):
    account, _ = member
    client = client_with_perms("customers.view_customer", "loyalty.view_loyaltyaccount")

    html = client.get(detail_url(account.customer)).content.decode()

    assert 'id="panel-loyalty"' in html
    assert 'data-loyalty="balance"' in html
    assert reverse("loyalty:redeem", args=[account.pk]) not in html


def test_ledger_rows_and_vouchers_need_their_own_permissions(client_with_perms, member):
    account, redemption = member
    client = client_with_perms("customers.view_customer", "loyalty.view_loyaltyaccount")

    html = client.get(detail_url(account.customer)).content.decode()

    assert 'data-loyalty="balance"' in html
    assert 'data-loyalty="recent"' not in html
    assert 'data-loyalty="vouchers"' not in html
    assert redemption.code not in html


def test_ledger_readers_without_voucher_permission_see_no_voucher_list(client_with_perms, member):
    account, _ = member
    client = client_with_perms(
        "customers.view_customer", "loyalty.view_loyaltyaccount", "loyalty.view_loyaltytransaction"
    )

    html = client.get(detail_url(account.customer)).content.decode()

    assert 'data-loyalty="recent"' in html
    assert 'data-loyalty="vouchers"' not in html


def test_non_member_shows_enrol_buttons_only_to_those_who_may_enrol(client_in_group, club):
    LoyaltyProgramFactory(name="Finished", ends_on=timezone.localdate() - timedelta(days=1))
    customer = CustomerFactory()
    enrol_url = reverse("loyalty:enrol", args=[customer.pk, club.pk])

    support_html = client_in_group("Support").get(detail_url(customer)).content.decode()
    manager_html = client_in_group("Managers").get(detail_url(customer)).content.decode()

    assert "Not a member" in support_html
    assert enrol_url not in support_html
    assert "Not a member" in manager_html
    assert enrol_url in manager_html
    assert "Enrol in Club" in manager_html
    assert "Enrol in Finished" not in manager_html


@pytest.mark.parametrize("group", ["Support", "Managers"])
def test_detail_query_count_is_constant_in_ledger_size(client_in_group, club, group):
    customer = CustomerFactory()
    deliver(customer, "250.00")
    NoteFactory.create_batch(2, customer=customer)
    account = LoyaltyAccount.objects.get(customer=customer)
    reward = RewardFactory(program=club, points_cost=1, stock=None)
    for _ in range(3):
        services.loyalty_points_adjust(
            account=account, points=5, reason="Goodwill", created_by=None
        )
    services.loyalty_reward_redeem(account=account, reward=reward)
    assert LoyaltyTransaction.objects.filter(account=account).count() == 5
    client = client_in_group(group)
    with CaptureQueriesContext(connection) as small:
        client.get(detail_url(customer))

    for _ in range(180):
        services.loyalty_points_adjust(
            account=account, points=5, reason="Goodwill", created_by=None
        )
    for _ in range(15):
        services.loyalty_reward_redeem(account=account, reward=reward)
    assert LoyaltyTransaction.objects.filter(account=account).count() == 200
    with CaptureQueriesContext(connection) as large:
        response = client.get(detail_url(customer))

    assert len(large.captured_queries) == len(small.captured_queries)
    assert len(large.captured_queries) <= DETAIL_QUERY_BUDGET, len(large.captured_queries)
    panel = {panel.key: context for panel, context in response.context["panels"]}
    [shown] = panel["loyalty"]["accounts"]
    assert len(shown.recent_transactions) == 5
    assert len(shown.open_vouchers) == 10
    assert "The newest 10 are shown" in response.content.decode()


def panel_request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def test_panel_context_query_counts(user_with_perms, member, club, django_assert_num_queries):
    account, _ = member
    customer = account.customer
    reader = ("loyalty.view_loyaltyaccount", "loyalty.view_loyaltytransaction")
    glancer = panel_request(user_with_perms("loyalty.view_loyaltyaccount"))
    viewer = panel_request(user_with_perms(*reader, "loyalty.view_redemption"))
    enrolment_staff = panel_request(user_with_perms(*reader, "loyalty.add_loyaltyaccount"))
    stranger = CustomerFactory()
    for request in (glancer, viewer, enrolment_staff):
        request.user.has_perm("loyalty.add_loyaltyaccount")  # the page loads these before

    with django_assert_num_queries(1):
        loyalty_panel_context(glancer, customer)
    with django_assert_num_queries(2):
        loyalty_panel_context(viewer, customer)
    with django_assert_num_queries(2):
        loyalty_panel_context(enrolment_staff, customer)
    with django_assert_num_queries(1):
        loyalty_panel_context(viewer, stranger)
    with django_assert_num_queries(2):
        context = loyalty_panel_context(enrolment_staff, stranger)

    assert context["programs_open_for_enrolment"] == [club]


def test_timeline_has_the_loyalty_ledger(client_in_group):
    program = LoyaltyProgramFactory(name="Club", points_expire_after_days=30)
    customer = CustomerFactory()
    order = deliver(customer, "524.00")
    account = LoyaltyAccount.objects.get(customer=customer)
    reward = RewardFactory(program=program, name="10% off", points_cost=500)
    services.loyalty_reward_redeem(account=account, reward=reward)
    services.loyalty_points_expire(now=timezone.now() + timedelta(days=31))
    client = client_in_group("Support")

    response = client.get(detail_url(customer))

    entries = [entry for entry in response.context["timeline"] if entry.kind == "loyalty"]
    assert [entry.title for entry in entries] == [
        "24 points expired",
        "Redeemed 500 points: 10% off",
        f"Earned 524 points (Order {order.number})",
    ]
    assert entries[2].body == f"Order {order.number}"
    assert "Redeemed 500 points: 10% off" in response.content.decode()


def test_timeline_needs_the_ledger_permission(client_with_perms, member):
    account, _ = member
    client = client_with_perms("customers.view_customer", "loyalty.view_loyaltyaccount")

    response = client.get(detail_url(account.customer))

    assert "loyalty" not in [entry.kind for entry in response.context["timeline"]]


def test_timeline_titles_for_adjustments_and_reversals(club):
    customer = CustomerFactory()
    order = deliver(customer, "100.00")
    account = LoyaltyAccount.objects.get(customer=customer)
    reward = RewardFactory(program=club, name="Gift", points_cost=80)
    redemption = services.loyalty_reward_redeem(account=account, reward=reward)
    services.loyalty_redemption_cancel(redemption=redemption)
    services.loyalty_points_adjust(account=account, points=-90, reason="Typo", created_by=None)
    order.status = "refunded"
    order.save()
    services.loyalty_points_adjust(account=account, points=7, reason="Sorry", created_by=None)

    titles = [transaction_title(row) for row in account.transactions.select_related("order")]

    assert titles == [
        "7 points added by hand",
        f"Took back 100 points (Order {order.number}); 90 already spent, now owed",
        "90 points removed by hand",
        "Voucher cancelled: 80 points returned",
        "Redeemed 80 points: Gift",
        f"Earned 100 points (Order {order.number})",
    ]


# The dashboard card ------------------------------------------------------------------------------


@pytest.fixture
def loyalty_shop(club):
    """Club: five members. Over the last 30 days 900 points issued (250 + 600 earned, +50 by
    hand) and 100 redeemed; older, reversed, removed and cancelled points do not count."""
    now = timezone.now()
    first, second, third, fourth, fifth = CustomerFactory.create_batch(5)
    deliver(first, "250.00")
    deliver(second, "600.00")  # reaches Silver
    services.loyalty_account_enrol(customer=third, program=club)
    deliver(fourth, "300.00")
    LoyaltyTransaction.objects.filter(account__customer=fourth).update(
        created_at=now - timedelta(days=40)
    )
    returned = deliver(fifth, "200.00")
    returned.status = "returned"
    returned.save()
    account = {c.pk: LoyaltyAccount.objects.get(customer=c) for c in (first, second, third)}
    services.loyalty_points_adjust(
        account=account[third.pk], points=50, reason="Welcome", created_by=None
    )
    services.loyalty_points_adjust(
        account=account[first.pk], points=-20, reason="Fix", created_by=None
    )
    reward = RewardFactory(program=club, points_cost=100)
    services.loyalty_reward_redeem(account=account[second.pk], reward=reward)
    cancelled = services.loyalty_reward_redeem(account=account[first.pk], reward=reward)
    services.loyalty_redemption_cancel(redemption=cancelled)
    older = services.loyalty_reward_redeem(account=account[second.pk], reward=reward)
    LoyaltyTransaction.objects.filter(redemption=older).update(created_at=now - timedelta(days=31))
    ended = LoyaltyProgramFactory(name="Summer", ends_on=timezone.localdate() - timedelta(days=1))
    LoyaltyAccountFactory(program=ended, customer=first)
    LoyaltyProgramFactory(name="Paused", is_active=False)
    return club


def test_card_figures_on_a_known_shop(loyalty_shop, django_assert_num_queries):
    request = panel_request(UserFactory(is_superuser=True))

    with django_assert_num_queries(2):
        context = loyalty_card_context(request)

    [program] = context["programs"]
    assert program == loyalty_shop
    assert program.members == 5
    assert program.points_issued == 900
    assert program.points_redeemed == 100
    assert [(tier.name, tier.members) for tier in program.tier_rows] == [
        ("Bronze", 4),
        ("Silver", 1),
        ("Gold", 0),
        ("Platinum", 0),
    ]
    assert [tier.percent for tier in program.tier_rows] == [80, 20, 0, 0]
    assert program.without_tier == 0


def test_card_on_the_dashboard(client_in_group, loyalty_shop):
    client = client_in_group("Support")

    response = client.get(reverse("home"))

    html = response.content.decode()
    assert "loyalty" in [card.key for card, _ in response.context["cards"]]
    card = html[html.index('id="card-loyalty"') :]
    assert "Club" in card and "Summer" not in card and "Paused" not in card
    assert re.search(r'data-kpi="loyalty-members">.*?kpi-value[^"]*">5<', card, re.S)
    assert re.search(r'data-kpi="loyalty-issued">.*?kpi-value[^"]*">900<', card, re.S)
    assert re.search(r'data-kpi="loyalty-redeemed">.*?kpi-value[^"]*">100<', card, re.S)
    assert re.search(r'data-tier="Bronze">\s*<td>Bronze</td>\s*<td[^>]*>4<', card)


def test_card_queries_do_not_grow_with_the_data(loyalty_shop, django_assert_num_queries):
    request = panel_request(UserFactory(is_superuser=True))
    with CaptureQueriesContext(connection) as small:
        loyalty_card_context(request)
    second = LoyaltyProgramFactory(name="Second")
    standard_tiers(second)
    for customer in CustomerFactory.create_batch(20):
        deliver(customer, "700.00")

    with django_assert_num_queries(len(small.captured_queries)):
        context = loyalty_card_context(request)

    assert [program.members for program in context["programs"]] == [25, 20]


def test_card_without_running_programs_says_so(client_in_group):
    LoyaltyProgramFactory(name="Paused", is_active=False)

    html = client_in_group("Support").get(reverse("home")).content.decode()

    assert "No loyalty program is running." in html


def test_card_is_hidden_without_permission(client_with_perms, loyalty_shop):
    client = client_with_perms("customers.view_customer")

    response = client.get(reverse("home"))

    assert "loyalty" not in [card.key for card, _ in response.context["cards"]]
    assert 'id="card-loyalty"' not in response.content.decode()


def test_members_without_a_tier_are_counted_apart(loyalty_shop):
    LoyaltyAccountFactory.create_batch(2, program=loyalty_shop, tier=None)

    context = loyalty_card_context(panel_request(UserFactory(is_superuser=True)))

    [program] = context["programs"]
    assert program.members == 7
    assert program.without_tier == 2
