import os

import pytest
from django.conf import settings
from django.db import connection


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres or redis run where that service is configured, and only there."""
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if os.environ.get("CRM_REQUIRE_SERVICES") and not (on_postgres and os.environ.get("REDIS_URL")):
        raise pytest.UsageError("CRM_REQUIRE_SERVICES is set but DATABASE_URL/REDIS_URL are not.")
    skip_postgres = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL")
    skip_redis = pytest.mark.skip(reason="needs Redis: set REDIS_URL")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_postgres)
        if "redis" in item.keywords and not os.environ.get("REDIS_URL"):
            item.add_marker(skip_redis)


@pytest.fixture(autouse=True)
def celery_eager(settings):
    """Tasks run in-process in tests unless a test starts a real worker (marked redis)."""
    from crm.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


@pytest.fixture
def vendor():
    return connection.vendor
