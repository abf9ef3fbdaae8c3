from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count, Sum

from communications.demo import ORDER_PREFIX
from core.roles import STAFF_GROUPS
from customers import stats
from customers.demo import DEMO_STAFF
from customers.models import Address, Customer, Note, Order, OrderItem, Tag
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent_and_its_stats_are_consistent(capsys):
    call_command("seed_demo", customers=120, orders=700)
    counts = (Customer.objects.count(), Order.objects.count(), OrderItem.objects.count())

    call_command("seed_demo", customers=120, orders=700)

    assert (Customer.objects.count(), Order.objects.count(), OrderItem.objects.count()) == counts
    assert "already loaded" in capsys.readouterr().out
    # The demo's campaigns add the orders they earned (communications/demo.py) to the 700.
    campaign_orders = Order.objects.filter(number__startswith=ORDER_PREFIX).count()
    assert (counts[0], counts[1] - campaign_orders) == (120, 700)
    # Stats equal the delivered orders, counted here independently of the recompute.
    delivered = {
        row["customer"]: row
        for row in Order.objects.filter(status="delivered")
        .values("customer")
        .annotate(n=Count("id"), spent=Sum("total"))
    }
    for customer in Customer.objects.all():
        row = delivered.get(customer.pk, {"n": 0, "spent": Decimal("0")})
        assert (customer.order_count, customer.total_spent) == (row["n"], row["spent"])
    assert stats.customer_stats_recompute() == 0
    # Every order's stats flag matches its status, so later saves neither add nor miss one.
    assert not Order.objects.filter(status="delivered", stats_applied=False).exists()
    assert not Order.objects.exclude(status="delivered").filter(stats_applied=True).exists()


def test_seed_demo_looks_like_a_shop():
    call_command("seed_demo", customers=300, orders=2000)

    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses == set(Order.Status.values)
    order_counts = list(Customer.objects.values_list("order_count", flat=True))
    one_time = sum(1 for count in order_counts if count == 1)
    assert one_time > len(order_counts) * 0.2  # many one-time buyers
    assert max(order_counts) >= 15  # and a few heavy ones
    assert Customer.objects.exclude(phone="").filter(phone__startswith="+").count() > 200
    phones = [str(phone) for phone in Customer.objects.values_list("phone", flat=True) if phone]
    assert len({phone[:3] for phone in phones}) > 2  # several countries
    assert Address.objects.filter(verification_status="pending").exists()
    assert Note.objects.exists()
    assert Tag.objects.annotate(n=Count("customer_tags")).filter(n__gt=0).count() >= 5
    assert OrderItem.objects.values("category").distinct().count() >= 5


def test_seed_demo_backdates_history():
    from django.utils import timezone

    call_command("seed_demo", customers=50, orders=200)

    week_ago = timezone.now() - timezone.timedelta(days=7)
    assert Customer.objects.filter(created_at__lt=week_ago).count() > 25
    assert Address.objects.filter(created_at__lt=week_ago).exists()
    assert Note.objects.filter(created_at__lt=week_ago).exists()


def test_seed_demo_notes_are_written_by_demo_staff_one_per_staff_group():
    call_command("seed_demo", customers=120, orders=700)
    call_command("seed_demo", customers=120, orders=700)

    assert Note.objects.exists()
    assert not Note.objects.filter(author__isnull=True).exists()  # no "Unknown author"
    author_ids = set(Note.objects.values_list("author", flat=True))
    authors = get_user_model().objects.filter(pk__in=author_ids)
    assert len(authors) > 1
    assert {user.username for user in authors} <= {username for username, *_ in DEMO_STAFF}
    staff = get_user_model().objects.filter(username__in=[row[0] for row in DEMO_STAFF])
    assert staff.count() == len(DEMO_STAFF)  # made once, however often the demo is loaded
    groups = [group for user in staff for group in user.groups.values_list("name", flat=True)]
    assert sorted(groups) == sorted(STAFF_GROUPS)
    for user in staff:
        assert user.is_staff and not user.is_superuser
        assert user.get_full_name()
        assert not user.has_usable_password()  # no login until an administrator sets one


def test_seed_demo_leaves_an_existing_account_of_the_same_name_as_it_is():
    username = DEMO_STAFF[0][0]
    existing = UserFactory(username=username, first_name="Own", is_staff=False)

    call_command("seed_demo", customers=50, orders=200)

    existing.refresh_from_db()
    assert existing.check_password("password")
    assert (existing.first_name, existing.is_staff) == ("Own", False)
    assert not existing.groups.exists()
