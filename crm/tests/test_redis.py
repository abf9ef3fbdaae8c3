"""Redis is real in CI: the cache and a Celery worker talk to it over the network."""

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from django.db import connection

from crm.celery import app
from customers.models import Customer
from customers.tasks import customer_stats_reconcile
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.redis


def test_cache_round_trips_through_redis(settings):
    assert settings.CACHES["default"]["BACKEND"].endswith("RedisCache")

    cache.set("crm-test-key", {"answer": 42}, 30)

    assert cache.get("crm-test-key") == {"answer": 42}
    cache.delete("crm-test-key")


@pytest.mark.django_db(transaction=True)
def test_reconcile_task_runs_on_a_worker_through_redis():
    customer = CustomerFactory()
    OrderFactory(customer=customer, status="delivered")
    Customer.objects.filter(pk=customer.pk).update(order_count=7)
    app.conf.task_always_eager = False
    connection.close()  # the worker thread opens its own connection

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = customer_stats_reconcile.delay([customer.pk])
        drifted = result.get(timeout=30)

    assert drifted == 1
    assert Customer.objects.get(pk=customer.pk).order_count == 1
