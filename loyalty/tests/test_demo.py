import pytest
from django.core.management import call_command
from django.db.models import Count

from loyalty.models import LoyaltyAccount, LoyaltyTransaction, Redemption
from loyalty.selectors import account_books

pytestmark = pytest.mark.django_db


def test_demo_program_has_members_with_consistent_balances():
    call_command("seed_demo", customers=150, orders=1200)
    call_command("seed_demo", customers=150, orders=1200)

    assert LoyaltyAccount.objects.count() > 100
    for account in LoyaltyAccount.objects.all():
        assert account_books(account.pk).problems() == [], account
    tiers = set(LoyaltyAccount.objects.values_list("tier__name", flat=True))
    assert {"Bronze", "Silver"} <= tiers
    kinds = dict(LoyaltyTransaction.objects.values_list("kind").annotate(n=Count("id")))
    assert kinds.get("earn", 0) > 500 and kinds.get("expire", 0) > 0 and kinds.get("redeem", 0) > 0
    assert Redemption.objects.filter(status="issued").exists()
    assert LoyaltyAccount.objects.filter(pending_points__gt=0).exists()
