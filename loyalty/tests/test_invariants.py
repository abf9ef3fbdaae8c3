"""balance = sum of the ledger = sum of the lots, after every service, over random sequences."""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from customers import services as customer_services
from customers.tests.factories import CustomerFactory, OrderFactory
from loyalty import services
from loyalty.models import LoyaltyAccount, Redemption
from loyalty.selectors import account_books
from loyalty.tests.factories import LoyaltyProgramFactory, RewardFactory, standard_tiers

STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("deliver"), st.integers(0, 3), st.integers(1, 400)),
        st.tuples(st.just("return"), st.integers(0, 3), st.just(0)),
        st.tuples(st.just("redeem"), st.integers(0, 1), st.just(0)),
        st.tuples(st.just("cancel"), st.just(0), st.just(0)),
        st.tuples(st.just("adjust"), st.just(0), st.integers(-300, 300)),
        st.tuples(st.just("expire"), st.just(0), st.integers(0, 60)),
        st.tuples(st.just("release"), st.just(0), st.integers(0, 20)),
    ),
    max_size=15,
)


class TestLedgerInvariants(TestCase):
    def check(self, account):
        self.assertEqual(account_books(account.pk).problems(), [])
        effective = account.transactions.filter(kind="earn", reversed=False)
        self.assertEqual(
            effective.values("order").distinct().count(), effective.count(), "one earn per order"
        )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps=STEPS, pending_days=st.sampled_from([0, 7]))
    def test_any_sequence_keeps_the_books_balanced(self, steps, pending_days):
        program = LoyaltyProgramFactory(
            points_expire_after_days=30, pending_days=pending_days, points_per_unit=Decimal("1")
        )
        standard_tiers(program)
        rewards = [
            RewardFactory(program=program, points_cost=50),
            RewardFactory(program=program, points_cost=250, stock=1),
        ]
        customer = CustomerFactory()
        orders = [OrderFactory(customer=customer, total=Decimal("0")) for _ in range(4)]
        account = services.loyalty_account_enrol(customer=customer, program=program)
        clock = timezone.now()

        for action, index, amount in steps:
            try:
                if action == "deliver":
                    order = orders[index]
                    order.refresh_from_db()
                    if order.status != "delivered":
                        if order.status not in ("pending", "returned"):
                            continue
                        order.total = Decimal(amount)
                        order.save(update_fields=["total"])
                        customer_services.order_set_status(order=order, status="delivered")
                elif action == "return":
                    order = orders[index]
                    order.refresh_from_db()
                    if order.status == "delivered":
                        customer_services.order_set_status(order=order, status="returned")
                elif action == "redeem":
                    services.loyalty_reward_redeem(account=account, reward=rewards[index])
                elif action == "cancel":
                    issued = Redemption.objects.filter(account=account, status="issued").first()
                    if issued:
                        services.loyalty_redemption_cancel(redemption=issued)
                elif action == "adjust":
                    services.loyalty_points_adjust(
                        account=account, points=amount, reason="test", created_by=None
                    )
                elif action == "expire":
                    clock += timedelta(days=amount)
                    services.loyalty_points_expire(now=clock)
                elif action == "release":
                    clock += timedelta(days=amount)
                    services.loyalty_points_release(now=clock)
            except ValidationError:
                pass  # a refused step must leave the books as they were
            self.check(account)

        self.assertEqual(LoyaltyAccount.objects.filter(customer=customer).count(), 1)
