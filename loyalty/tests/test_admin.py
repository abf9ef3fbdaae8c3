import re
from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.messages import get_messages
from django.urls import reverse

from customers.models import Order
from customers.tests.factories import CustomerFactory, OrderFactory, UserFactory
from loyalty import services
from loyalty.models import (
    LoyaltyAccount,
    LoyaltyProgram,
    LoyaltyTransaction,
    PointLot,
    Redemption,
    Reward,
    Tier,
)
from loyalty.tests.factories import (
    LoyaltyAccountFactory,
    LoyaltyProgramFactory,
    RewardFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db

Kind = LoyaltyTransaction.Kind
ACCOUNTS_URL = reverse("admin:loyalty_loyaltyaccount_changelist")
REDEMPTIONS_URL = reverse("admin:loyalty_redemption_changelist")


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _account_with_points(points: int, **fields) -> LoyaltyAccount:
    account = LoyaltyAccountFactory(**fields)
    if points:
        services.loyalty_points_adjust(
            account=account, points=points, reason="Opening balance", created_by=None
        )
    return account


@pytest.fixture
def busy_programs():
    """Two programs with tiers and rewards, 20 members with earns, adjustments and vouchers."""
    staff = UserFactory()
    programs = [LoyaltyProgramFactory(name="Club"), LoyaltyProgramFactory(name="Beauty")]
    rewards = []
    for program in programs:
        standard_tiers(program)
        rewards.append(RewardFactory(program=program, points_cost=20, stock=100))
    for number in range(20):
        customer = CustomerFactory(external_id=f"POS-{number}")
        OrderFactory(customer=customer, status=Order.Status.DELIVERED, total=Decimal("60"))
        for account, reward in zip(
            LoyaltyAccount.objects.filter(customer=customer).order_by("program__name"),
            sorted(rewards, key=lambda reward: reward.program.name),
            strict=True,
        ):
            services.loyalty_points_adjust(
                account=account, points=5, reason="Welcome", created_by=staff
            )
            services.loyalty_reward_redeem(account=account, reward=reward, created_by=staff)
    return programs


# Changelists: the query count does not grow with the rows -------------------------------------


@pytest.mark.parametrize(
    ("url_name", "rows", "queries", "big_table"),
    [
        ("admin:loyalty_loyaltyaccount_changelist", 40, 6, False),
        ("admin:loyalty_redemption_changelist", 40, 7, False),
        ("admin:loyalty_loyaltytransaction_changelist", 100, 7, True),
        ("admin:loyalty_pointlot_changelist", 80, 7, True),
    ],
)
def test_changelist_loads_with_a_fixed_number_of_queries(
    admin_client, busy_programs, assert_queries, vendor, url_name, rows, queries, big_table
):
    url = reverse(url_name)
    # The ledger and the lots may grow past the estimate threshold: on PostgreSQL their
    # unfiltered count reads the table's statistics first.
    statistics = big_table and vendor == "postgresql"

    with assert_queries(queries + statistics):
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == rows


@pytest.mark.parametrize(
    ("url_name", "queries"),
    [("admin:loyalty_loyaltyprogram_changelist", 5), ("admin:loyalty_reward_changelist", 6)],
)
def test_program_and_reward_changelists_load_with_a_fixed_number_of_queries(
    admin_client, assert_queries, url_name, queries
):
    for _ in range(15):
        program = LoyaltyProgramFactory()
        standard_tiers(program)
        RewardFactory(program=program)
        LoyaltyAccountFactory(program=program)

    with assert_queries(queries):
        response = admin_client.get(reverse(url_name))

    assert len(response.context["cl"].result_list) == 15


def test_program_changelist_counts_members(admin_client, busy_programs):
    LoyaltyProgramFactory(name="Empty")

    response = admin_client.get(reverse("admin:loyalty_loyaltyprogram_changelist"))

    counts = {program.name: program.member_count for program in response.context["cl"].result_list}
    assert counts == {"Beauty": 20, "Club": 20, "Empty": 0}


def test_account_changelist_searches_by_customer_external_id(admin_client, busy_programs):
    response = admin_client.get(ACCOUNTS_URL, {"q": "POS-7"})

    accounts = response.context["cl"].result_list
    assert {account.customer.external_id for account in accounts} == {"POS-7"}
    assert len(accounts) == 2


def test_account_changelist_filters_by_tier(admin_client, busy_programs):
    silver = Tier.objects.get(program__name="Club", name="Silver")
    account = LoyaltyAccount.objects.filter(program__name="Club").first()
    LoyaltyAccount.objects.filter(pk=account.pk).update(tier=silver)

    response = admin_client.get(ACCOUNTS_URL, {"tier__id__exact": silver.pk})

    assert [row.pk for row in response.context["cl"].result_list] == [account.pk]


# Programs and tiers ---------------------------------------------------------------------------


def _program_post(**overrides):
    data = {
        "name": "Spring club",
        "description": "",
        "is_active": "on",
        "auto_enrol": "on",
        "starts_on": "",
        "ends_on": "",
        "points_per_unit": "1",
        "minimum_spend": "0",
        "pending_days": "0",
        "points_expire_after_days": "",
        "tier_basis": LoyaltyProgram.TierBasis.LIFETIME_POINTS,
        "tiers-TOTAL_FORMS": "0",
        "tiers-INITIAL_FORMS": "0",
        "rewards-TOTAL_FORMS": "0",
        "rewards-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


def test_program_add_saves_tiers_and_rewards_from_the_inlines(admin_client):
    data = _program_post(
        **{
            "tiers-TOTAL_FORMS": "2",
            "tiers-0-name": "Member",
            "tiers-0-threshold": "0",
            "tiers-0-earn_multiplier": "1",
            "tiers-1-name": "Insider",
            "tiers-1-threshold": "1000",
            "tiers-1-earn_multiplier": "1.5",
            "rewards-TOTAL_FORMS": "1",
            "rewards-0-name": "5 off",
            "rewards-0-points_cost": "200",
            "rewards-0-reward_type": "amount_discount",
            "rewards-0-value": "5",
            "rewards-0-is_active": "on",
        }
    )

    add_page = admin_client.get(reverse("admin:loyalty_loyaltyprogram_add"))
    response = admin_client.post(reverse("admin:loyalty_loyaltyprogram_add"), data)

    assert add_page.status_code == 200
    assert response.status_code == 302
    program = LoyaltyProgram.objects.get(name="Spring club")
    assert [(t.name, t.threshold, t.earn_multiplier) for t in program.tiers.all()] == [
        ("Member", Decimal("0.00"), Decimal("1.00")),
        ("Insider", Decimal("1000.00"), Decimal("1.50")),
    ]
    assert [(r.name, r.points_cost) for r in program.rewards.all()] == [("5 off", 200)]


def test_program_add_without_tiers_creates_none_and_points_to_the_action(admin_client):
    response = admin_client.post(
        reverse("admin:loyalty_loyaltyprogram_add"), _program_post(), follow=True
    )

    program = LoyaltyProgram.objects.get(name="Spring club")
    assert not program.tiers.exists()
    assert any("has no tiers" in message for message in _messages(response))


def test_add_default_tiers_action_fills_only_programs_without_tiers(admin_client):
    bare = LoyaltyProgramFactory(name="Bare")
    tiered = LoyaltyProgramFactory(name="Tiered")
    standard_tiers(tiered)
    Tier.objects.filter(program=tiered, name="Platinum").delete()

    response = admin_client.post(
        reverse("admin:loyalty_loyaltyprogram_changelist"),
        {"action": "add_default_tiers", ACTION_CHECKBOX_NAME: [bare.pk, tiered.pk], "index": 0},
        follow=True,
    )

    assert [(t.name, t.threshold, t.earn_multiplier) for t in bare.tiers.all()] == [
        ("Bronze", Decimal("0.00"), Decimal("1.00")),
        ("Silver", Decimal("500.00"), Decimal("1.25")),
        ("Gold", Decimal("2000.00"), Decimal("1.50")),
        ("Platinum", Decimal("5000.00"), Decimal("2.00")),
    ]
    assert tiered.tiers.count() == 3
    assert any("Tiered" in message for message in _messages(response))


def test_program_page_names_every_tier_and_reward_input(admin_client):
    program = LoyaltyProgramFactory(name="Club")
    standard_tiers(program)
    RewardFactory(program=program, name="Free shipping")

    response = admin_client.get(reverse("admin:loyalty_loyaltyprogram_change", args=[program.pk]))

    # The inline tables name their inputs only in the column headers: each input says its own.
    html = response.content.decode()
    for prefix, labels in (
        ("tiers-0", ("Name", "Threshold", "Earn multiplier", "Benefits")),
        ("rewards-0", ("Name", "Points cost", "Reward type", "Value", "Valid until", "Stock")),
    ):
        for label in labels:
            field_id = f"id_{prefix}-{label.lower().replace(' ', '_')}"
            tag = re.search(rf'<(?:input|select|textarea)\b[^>]*id="{field_id}"[^>]*>', html)
            assert f'aria-label="{label}"' in tag.group(0), field_id
    assert 'aria-label="Delete Club · Bronze"' in html


# Rewards --------------------------------------------------------------------------------------


def test_reward_changelist_filters_by_program(admin_client):
    club = LoyaltyProgramFactory(name="Club")
    reward = RewardFactory(program=club)
    RewardFactory()

    response = admin_client.get(
        reverse("admin:loyalty_reward_changelist"), {"program__id__exact": club.pk}
    )

    assert list(response.context["cl"].result_list) == [reward]


# Adjust points --------------------------------------------------------------------------------


def _adjust(client, accounts, **form):
    data = {"action": "adjust_points", ACTION_CHECKBOX_NAME: [a.pk for a in accounts]}
    if form:
        data.update({"apply": "Adjust points", **form})
    else:
        data["index"] = 0  # the first post comes from the changelist's action bar
    return client.post(ACCOUNTS_URL, data)


def test_adjust_points_shows_the_intermediate_page(admin_client):
    account = _account_with_points(40)

    response = _adjust(admin_client, [account])

    assert response.status_code == 200
    assert "admin/loyalty/adjust_points.html" in [t.name for t in response.templates]
    content = response.content.decode()
    assert str(account.customer) in content
    assert f'name="{ACTION_CHECKBOX_NAME}" value="{account.pk}"' in content
    assert 'name="apply"' in content


def test_adjust_points_adds_points_with_reason_and_author(admin_client, admin_user):
    accounts = [_account_with_points(40), _account_with_points(0)]

    response = _adjust(admin_client, accounts, points="25", reason="Parcel arrived late")

    assert response.status_code == 302
    assert [LoyaltyAccount.objects.get(pk=a.pk).balance for a in accounts] == [65, 25]
    rows = LoyaltyTransaction.objects.filter(kind=Kind.ADJUST, created_by=admin_user)
    assert sorted((row.account_id, row.points, row.description) for row in rows) == sorted(
        (a.pk, 25, "Parcel arrived late") for a in accounts
    )


def test_adjust_points_removes_points(admin_client):
    account = _account_with_points(40)

    _adjust(admin_client, [account], points="-15", reason="Double-counted receipt")

    account.refresh_from_db()
    assert account.balance == 25
    assert PointLot.objects.get(account=account).remaining == 25


@pytest.mark.parametrize(
    ("form", "field", "error"),
    [
        ({"points": "0", "reason": "Goodwill"}, "points", "other than zero"),
        ({"points": "10", "reason": "  "}, "reason", "This field is required"),
        ({"points": "-41", "reason": "Goodwill"}, "points", "Only 40 points can be removed"),
        ({"points": "ten", "reason": "Goodwill"}, "points", "Enter a whole number"),
    ],
)
def test_adjust_points_refuses_bad_input_at_the_field_and_changes_nothing(
    admin_client, form, field, error
):
    account = _account_with_points(40)
    ledger_before = LoyaltyTransaction.objects.count()

    response = _adjust(admin_client, [account], **form)

    assert response.status_code == 200
    assert any(error in message for message in response.context["form"].errors[field])
    assert error in response.content.decode()
    account.refresh_from_db()
    assert account.balance == 40
    assert LoyaltyTransaction.objects.count() == ledger_before


def test_adjust_points_leaves_the_accounts_that_cannot_pay_unchanged(admin_client):
    rich, poor = _account_with_points(100), _account_with_points(10)

    response = _adjust(admin_client, [rich, poor], points="-50", reason="Fraud check")

    assert response.status_code == 302
    rich.refresh_from_db()
    poor.refresh_from_db()
    assert (rich.balance, poor.balance) == (50, 10)
    assert not LoyaltyTransaction.objects.filter(account=poor, kind=Kind.ADJUST).exclude(
        description="Opening balance"
    )
    messages = _messages(admin_client.get(ACCOUNTS_URL))
    assert any(f"{poor}: Only 10 points can be removed" in message for message in messages)


def test_adjust_points_is_not_offered_to_view_only_staff(client_in_group):
    client = client_in_group("Support")
    account = _account_with_points(40)

    response = client.post(
        ACCOUNTS_URL,
        {
            "action": "adjust_points",
            ACTION_CHECKBOX_NAME: [account.pk],
            "apply": "Adjust points",
            "points": "500",
            "reason": "Friend",
        },
    )

    assert response.status_code in (200, 302)
    account.refresh_from_db()
    assert account.balance == 40


def test_loyalty_managers_adjust_points(client_in_group):
    client = client_in_group("Loyalty managers")
    account = _account_with_points(40)

    response = _adjust(client, [account], points="10", reason="Birthday")

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.balance == 50


# Account add and change pages -----------------------------------------------------------------


def test_account_add_enrols_the_customer(admin_client):
    program = LoyaltyProgramFactory()
    bronze, *_ = standard_tiers(program)
    customer = CustomerFactory()
    add_page = admin_client.get(reverse("admin:loyalty_loyaltyaccount_add"))

    response = admin_client.post(
        reverse("admin:loyalty_loyaltyaccount_add"),
        {"customer": customer.pk, "program": program.pk},
    )

    assert add_page.status_code == 200
    assert "admin-autocomplete" in add_page.content.decode()
    assert response.status_code == 302
    account = LoyaltyAccount.objects.get(customer=customer, program=program)
    assert account.tier == bronze  # the enrolment service places the new member
    assert account.balance == 0


def test_account_add_refuses_a_customer_who_opted_out_of_loyalty(admin_client):
    program = LoyaltyProgramFactory()
    customer = CustomerFactory(can_receive_loyalty=False)

    response = admin_client.post(
        reverse("admin:loyalty_loyaltyaccount_add"),
        {"customer": customer.pk, "program": program.pk},
    )

    assert response.status_code == 200
    assert (
        "opted out of loyalty programs" in response.context["adminform"].form.errors["customer"][0]
    )
    assert "opted out of loyalty programs" in response.content.decode()
    assert not LoyaltyAccount.objects.exists()


def test_account_add_refuses_a_program_that_is_not_running(admin_client):
    program = LoyaltyProgramFactory(is_active=False)

    response = admin_client.post(
        reverse("admin:loyalty_loyaltyaccount_add"),
        {"customer": CustomerFactory().pk, "program": program.pk},
    )

    assert response.status_code == 200
    assert "is not running" in response.context["adminform"].form.errors["program"][0]
    assert not LoyaltyAccount.objects.exists()


def test_account_add_refuses_a_second_account_in_the_same_program(admin_client):
    account = LoyaltyAccountFactory()

    response = admin_client.post(
        reverse("admin:loyalty_loyaltyaccount_add"),
        {"customer": account.customer_id, "program": account.program_id},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert LoyaltyAccount.objects.count() == 1


def test_account_page_shows_the_newest_fifty_ledger_rows(
    admin_client, django_assert_max_num_queries
):
    account = _account_with_points(0)
    for number in range(60):
        services.loyalty_points_adjust(
            account=account, points=1, reason=f"Visit #{number:02d}#", created_by=None
        )
    url = reverse("admin:loyalty_loyaltyaccount_change", args=[account.pk])

    with django_assert_max_num_queries(11):
        response = admin_client.get(url)

    content = response.content.decode()
    shown = [number for number in range(60) if f"Visit #{number:02d}#" in content]
    assert shown == list(range(10, 60))
    assert 'name="balance"' not in content  # the points are not editable here


def test_account_page_does_not_accept_edits(admin_client):
    account = _account_with_points(40)
    url = reverse("admin:loyalty_loyaltyaccount_change", args=[account.pk])

    response = admin_client.post(url, {"customer": account.customer_id, "balance": "9999"})

    assert response.status_code == 403
    account.refresh_from_db()
    assert account.balance == 40


# Redemptions ----------------------------------------------------------------------------------


@pytest.fixture
def voucher():
    account = _account_with_points(150)
    reward = RewardFactory(program=account.program, points_cost=100, stock=3)
    return services.loyalty_reward_redeem(account=account, reward=reward)


def _voucher_action(client, action, redemptions):
    return client.post(
        REDEMPTIONS_URL,
        {"action": action, ACTION_CHECKBOX_NAME: [r.pk for r in redemptions], "index": 0},
        follow=True,
    )


def test_mark_used_action_marks_the_voucher_used(admin_client, voucher):
    response = _voucher_action(admin_client, "mark_used", [voucher])

    voucher.refresh_from_db()
    assert voucher.status == Redemption.Status.USED
    assert voucher.used_at is not None
    assert "1 voucher(s) marked used." in _messages(response)


def test_cancel_action_gives_the_points_back(admin_client, admin_user, voucher):
    account = voucher.account
    account.refresh_from_db()
    assert account.balance == 50

    _voucher_action(admin_client, "cancel", [voucher])

    voucher.refresh_from_db()
    account.refresh_from_db()
    assert voucher.status == Redemption.Status.CANCELLED
    assert account.balance == 150
    assert Reward.objects.get(pk=voucher.reward_id).stock == 3
    reverse_row = LoyaltyTransaction.objects.get(redemption=voucher, kind=Kind.REVERSE)
    assert reverse_row.created_by == admin_user


def test_voucher_actions_report_rows_they_cannot_move(admin_client, voucher):
    used = services.loyalty_redemption_mark_used(redemption=voucher)
    account = voucher.account
    account.refresh_from_db()

    response = _voucher_action(admin_client, "cancel", [used])

    used.refresh_from_db()
    assert used.status == Redemption.Status.USED
    assert LoyaltyAccount.objects.get(pk=account.pk).balance == account.balance
    assert f"{used.code}: Voucher {used.code} is used." in _messages(response)


def test_redemptions_cannot_be_added_or_edited_in_admin(admin_client, voucher):
    view = admin_client.get(reverse("admin:loyalty_redemption_change", args=[voucher.pk]))
    add = admin_client.get(reverse("admin:loyalty_redemption_add"))
    edit = admin_client.post(
        reverse("admin:loyalty_redemption_change", args=[voucher.pk]), {"status": "used"}
    )

    assert view.status_code == 200
    assert voucher.code in view.content.decode()
    assert add.status_code == 403
    assert edit.status_code == 403
    voucher.refresh_from_db()
    assert voucher.status == Redemption.Status.ISSUED


# The ledger and the lots are read-only --------------------------------------------------------


@pytest.mark.parametrize("model", ["loyaltytransaction", "pointlot"])
def test_ledger_and_lots_are_read_only(admin_client, model):
    account = _account_with_points(40)
    row = (LoyaltyTransaction if model == "loyaltytransaction" else PointLot).objects.get(
        account=account
    )

    add = admin_client.get(reverse(f"admin:loyalty_{model}_add"))
    view = admin_client.get(reverse(f"admin:loyalty_{model}_change", args=[row.pk]))
    change = admin_client.post(
        reverse(f"admin:loyalty_{model}_change", args=[row.pk]), {"points": "9999"}
    )
    delete = admin_client.post(
        reverse(f"admin:loyalty_{model}_delete", args=[row.pk]), {"post": "yes"}
    )

    assert (add.status_code, view.status_code) == (403, 200)
    assert (change.status_code, delete.status_code) == (403, 403)
    row.refresh_from_db()
    assert row.points == 40


def test_accounts_cannot_be_deleted_in_admin(admin_client):
    account = LoyaltyAccountFactory()

    response = admin_client.post(
        reverse("admin:loyalty_loyaltyaccount_delete", args=[account.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert LoyaltyAccount.objects.filter(pk=account.pk).exists()
