"""The nightly run: what it writes, and that it is safe to run twice and alone."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.utils import timezone

from customers.analytics import run as analytics
from customers.models import AnalyticsRun, Customer
from customers.tests.factories import CustomerFactory, OrderFactory, silent_run

pytestmark = pytest.mark.django_db


def shop(n_customers=12):
    """A few customers with different histories, and one who never bought."""
    now = timezone.now()
    customers = []
    for index in range(n_customers):
        customer = CustomerFactory()
        for visit in range(index % 5 + 1):
            OrderFactory(
                customer=customer,
                status="delivered",
                total=Decimal(20 + 10 * index),
                placed_at=now - timedelta(days=5 + 30 * visit + 7 * index),
            )
        customers.append(customer)
    prospect = CustomerFactory()
    return customers, prospect


def test_a_small_shop_is_scored_with_the_fallback_and_says_so():
    customers, prospect = shop()

    run = analytics.analytics_run()

    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.fallback_used
    assert "need 500" in run.fallback_reason
    assert run.customers_with_orders == 12
    assert run.customers_scored == 13
    steps = {"reconcile", "aggregate", "rfm", "churn", "spend", "backtest", "write"}
    assert set(run.step_timings) == steps
    assert run.backtest["skipped"].startswith("Only ")  # of the 12, those 90 days ago
    assert "(the model needs 500)" in run.backtest["skipped"]
    scored = Customer.objects.get(pk=customers[4].pk)
    assert 1 <= scored.rfm_recency <= 5 and scored.rfm_segment
    assert 0 <= scored.churn_risk <= 1
    assert scored.p_alive == pytest.approx(1 - scored.churn_risk)
    assert scored.expected_orders_90d >= 0 and scored.predicted_clv >= 0
    prospect = Customer.objects.get(pk=prospect.pk)
    assert prospect.rfm_segment == "Prospect"
    assert prospect.churn_risk is None and prospect.rfm_recency is None


def test_a_second_run_rewrites_nothing():
    shop()
    analytics.analytics_run()
    stamps = dict(Customer.objects.values_list("pk", "analytics_at"))

    analytics.analytics_run()

    assert dict(Customer.objects.values_list("pk", "analytics_at")) == stamps


def test_the_run_reconciles_drifted_stats():
    customers, _ = shop(3)
    Customer.objects.filter(pk=customers[0].pk).update(order_count=99)

    run = analytics.analytics_run()

    assert run.drift_count == 1
    assert Customer.objects.get(pk=customers[0].pk).order_count == customers[0].orders.count()


def test_a_delivery_during_the_pass_over_the_orders_is_not_undone(monkeypatch):
    from customers import services

    customer = CustomerFactory()
    for number in ("A-1", "A-2"):
        services.order_create(
            customer=customer, number=number, total=Decimal("10.00"), status="delivered"
        )
    late = services.order_create(
        customer=customer, number="A-3", total=Decimal("25.00"), status="paid"
    )
    summarise = analytics.orders_summarise

    def summarise_then_deliver(as_of, calibration_end=None):
        summarise(as_of, calibration_end)  # the summary sees two delivered orders...
        services.order_set_status(order=late, status="delivered")  # ...the customer has three

    monkeypatch.setattr(analytics, "orders_summarise", summarise_then_deliver)
    run = analytics.analytics_run()

    customer.refresh_from_db()
    assert (customer.order_count, customer.total_spent) == (3, Decimal("45.00"))
    assert run.drift_count == 0


def test_the_run_zeroes_the_stats_of_a_customer_without_delivered_orders():
    _, prospect = shop(2)
    Customer.objects.filter(pk=prospect.pk).update(
        order_count=2, total_spent=Decimal("80.00"), first_order_at=timezone.now()
    )

    run = analytics.analytics_run()

    prospect.refresh_from_db()
    assert run.drift_count == 1
    assert (prospect.order_count, prospect.total_spent, prospect.first_order_at) == (0, 0, None)


def test_the_run_records_customers_per_segment():
    shop()

    run = analytics.analytics_run()

    stored = Customer.objects.values_list("rfm_segment", flat=True)
    assert run.segment_counts == {name: list(stored).count(name) for name in set(stored)}
    assert run.segment_counts["Prospect"] == 1
    assert sum(run.segment_counts.values()) == run.customers_scored


def test_as_of_limits_the_scores_but_not_the_stats():
    customer = CustomerFactory()
    for days_ago in (40, 20, 0):
        OrderFactory(
            customer=customer,
            status="delivered",
            total=Decimal("10.00"),
            placed_at=timezone.now() - timedelta(days=days_ago),
        )
    Customer.objects.filter(pk=customer.pk).update(order_count=0)

    run = analytics.analytics_run(as_of=timezone.localdate() - timedelta(days=10))

    customer.refresh_from_db()
    assert run.drift_count == 1
    assert (customer.order_count, customer.total_spent) == (3, Decimal("30.00"))
    assert customer.rfm_frequency is not None
    assert list(analytics.customer_summaries(run.as_of)["orders"]) == [2]


def test_as_of_ignores_later_orders():
    customer = CustomerFactory()
    OrderFactory(
        customer=customer, status="delivered", placed_at=timezone.now() - timedelta(days=40)
    )
    OrderFactory(customer=customer, status="delivered", placed_at=timezone.now())

    run = analytics.analytics_run(as_of=timezone.localdate() - timedelta(days=10))

    assert run.customers_with_orders == 1
    data = analytics.customer_summaries(run.as_of)
    assert list(data["orders"]) == [1]


def test_undelivered_orders_do_not_count():
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="cancelled")

    analytics.analytics_run()

    assert Customer.objects.get(pk=customer.pk).rfm_segment == "Prospect"


def test_two_runs_cannot_interleave(vendor):
    shop(2)
    if vendor == "sqlite":
        cache.add("crm-analytics-run-lock", "held", 60)
    else:
        from django.db import connections

        other = connections.create_connection("default")
        other.cursor().execute("SELECT pg_advisory_lock(%s)", [analytics.LOCK_KEY])
    try:
        with pytest.raises(analytics.AnalyticsAlreadyRunning):
            analytics.analytics_run()
    finally:
        if vendor == "sqlite":
            cache.delete("crm-analytics-run-lock")
        else:
            # Let go before closing: a closed session's locks go when its backend has exited,
            # which may be after the next statement here.
            other.cursor().execute("SELECT pg_advisory_unlock(%s)", [analytics.LOCK_KEY])
            other.close()

    skipped = AnalyticsRun.objects.latest()
    assert skipped.status == AnalyticsRun.Status.SKIPPED
    assert "in progress" in skipped.error
    assert analytics.analytics_run().status == AnalyticsRun.Status.SUCCEEDED


def test_a_queued_run_row_is_used_and_completed():
    shop(2)
    queued = AnalyticsRun.objects.create(as_of=timezone.localdate(), model_name="bgnbd")

    run = analytics.analytics_run(run=queued)

    queued.refresh_from_db()
    assert run.pk == queued.pk
    assert (queued.status, queued.progress, queued.model_name) == ("succeeded", 100, "bgnbd")
    assert queued.duration_seconds is not None


def test_a_failing_step_marks_the_run_failed(monkeypatch):
    shop(2)

    def broken(as_of, calibration_end=None):
        raise RuntimeError("disk full")

    monkeypatch.setattr(analytics, "orders_summarise", broken)
    with pytest.raises(RuntimeError):
        analytics.analytics_run()

    failed = AnalyticsRun.objects.latest()
    assert failed.status == "failed" and "disk full" in failed.error
    monkeypatch.undo()
    assert analytics.analytics_run().status == "succeeded"  # the lock was released


def test_the_models_run_above_the_minimum(settings):
    from customers.demo import DemoSize, demo_data_create

    settings.CRM_ANALYTICS_MIN_CUSTOMERS = 100
    demo_data_create(size=DemoSize(customers=400, orders=3000))

    run = analytics.analytics_run()

    assert not run.fallback_used, run.fallback_reason
    assert set(run.parameters) >= {"mbgnbd"}
    assert run.log_likelihood < 0


def test_a_finished_run_is_not_run_again_and_the_lock_is_released():
    from customers.analytics.ops import AnalyticsRunTransitionError

    shop(2)
    done = analytics.analytics_run()

    with pytest.raises(AnalyticsRunTransitionError, match="from succeeded to running"):
        analytics.analytics_run(run=done)

    assert AnalyticsRun.objects.get(pk=done.pk).status == AnalyticsRun.Status.SUCCEEDED
    assert analytics.analytics_run().status == AnalyticsRun.Status.SUCCEEDED  # lock released


# Signs of life ----------------------------------------------------------------------------------


def test_the_run_records_a_heartbeat_at_every_step(monkeypatch):
    """Each step's start and end refreshes heartbeat_at with the step and the progress."""
    from customers.analytics import ops

    shop(3)
    beats = []
    original = ops.analytics_run_heartbeat

    def recording(run, **fields):
        alive = original(run, **fields)
        stored = AnalyticsRun.objects.get(pk=run.pk)
        beats.append((stored.current_step, stored.progress, stored.heartbeat_at))
        return alive

    monkeypatch.setattr(ops, "analytics_run_heartbeat", recording)
    monkeypatch.setattr(analytics, "analytics_run_heartbeat", recording)

    run = analytics.analytics_run()

    steps = [step for step, _, _ in beats]
    for step in ("aggregate", "reconcile", "rfm", "churn", "spend", "write"):
        assert steps.count(step) == 2, steps  # on entering and on leaving the step
    assert [progress for _, progress, _ in beats] == sorted(progress for _, progress, _ in beats)
    times = [at for _, _, at in beats]
    assert None not in times and times == sorted(times)
    stored = AnalyticsRun.objects.get(pk=run.pk)
    assert stored.heartbeat_at >= times[-1]


def test_a_run_refused_by_the_lock_is_skipped_not_failed(monkeypatch):
    monkeypatch.setattr(analytics, "_lock_acquire", lambda: False)
    queued = AnalyticsRun.objects.create(as_of=timezone.localdate())

    with pytest.raises(analytics.AnalyticsAlreadyRunning):
        analytics.analytics_run(run=queued)

    queued.refresh_from_db()
    assert queued.status == AnalyticsRun.Status.SKIPPED
    assert "in progress" in queued.error
    assert queued.finished_at is not None
    assert not AnalyticsRun.objects.filter(status=AnalyticsRun.Status.FAILED).exists()


def test_a_duplicate_delivery_refused_by_the_lock_leaves_the_running_run_alone(monkeypatch):
    """The run's own message delivered twice: the worker carrying it out holds the lock."""
    monkeypatch.setattr(analytics, "_lock_acquire", lambda: False)
    running = AnalyticsRun.objects.create(
        as_of=timezone.localdate(), status=AnalyticsRun.Status.RUNNING, progress=50
    )

    with pytest.raises(analytics.AnalyticsAlreadyRunning):
        analytics.analytics_run(run=running)

    running.refresh_from_db()
    assert (running.status, running.progress, running.error) == ("running", 50, "")


def test_a_new_run_fails_the_abandoned_one_and_scores(settings):
    """A worker killed at 83% left its run running; the next run takes over and says so."""
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    shop(3)
    dead = silent_run(current_step="write")

    run = analytics.analytics_run()

    assert run.status == AnalyticsRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == AnalyticsRun.Status.FAILED
    assert "Abandoned" in dead.error and f"run {run.pk}" in dead.error
    assert dead.progress == 83  # what it got to stays on record


def test_a_run_restarted_after_its_worker_died_is_not_failed_as_abandoned(settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    shop(3)
    restarted = silent_run(progress=33, step_timings={"aggregate": 0.1, "reconcile": 0.1})
    long_ago = restarted.started_at

    run = analytics.analytics_run(run=restarted)

    restarted.refresh_from_db()
    assert run.pk == restarted.pk
    assert (restarted.status, restarted.progress, restarted.error) == ("succeeded", 100, "")
    assert restarted.started_at > long_ago


def test_the_cache_lock_lasts_as_long_as_the_heartbeat_timeout(settings, vendor, monkeypatch):
    """Without PostgreSQL's advisory lock a killed worker cannot release the cache lock: it
    expires when the run stops showing signs of life, and each heartbeat renews it."""
    if vendor == "postgresql":
        pytest.skip("PostgreSQL's advisory lock ends with the worker's connection")
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    timeouts = []

    class Spy:
        def add(self, key, value, timeout):
            timeouts.append(("add", timeout))
            return True

        def touch(self, key, timeout):
            timeouts.append(("touch", timeout))
            return True

        def delete(self, key):
            timeouts.append(("delete", None))

    monkeypatch.setattr(analytics, "cache", Spy())
    shop(2)

    analytics.analytics_run()

    assert timeouts[0] == ("add", 300)
    assert ("touch", 300) in timeouts
    assert timeouts[-1] == ("delete", None)
