"""The nightly analytics' settings (the "Nightly analytics" block of crm/settings.py): read from
the environment, with the defaults .env.example and docs/analytics.md give, and refused at start
when they cannot work."""

import json
import os
import subprocess
import sys
from pathlib import Path

from customers.analytics import rfm

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "CRM_ANALYTICS_MIN_CUSTOMERS",
    "CRM_ANALYTICS_FIT_SAMPLE",
    "CRM_ANALYTICS_WORK_MEM",
    "CRM_RFM_METHOD",
    "CRM_RFM_THRESHOLDS",
)
ENVIRONMENT = (
    *NAMES[:-1],
    "CRM_RFM_RECENCY_DAYS",
    "CRM_RFM_FREQUENCY_ORDERS",
    "CRM_RFM_MONETARY",
)


def settings_in_a_fresh_process(**environ: str) -> subprocess.CompletedProcess:
    """Load crm.settings in a new process with only the given analytics variables set; a .env
    file a developer keeps beside manage.py is not read."""
    env = {key: value for key, value in os.environ.items() if key not in ENVIRONMENT}
    env.update(DJANGO_SETTINGS_MODULE="crm.settings", DJANGO_DEBUG="true", **environ)
    script = (
        "import json, environ; environ.Env.read_env = lambda *args, **kwargs: None; "
        "from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {NAMES!r}}}))"
    )
    return subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_defaults_are_the_documented_ones():
    documented = (ROOT / ".env.example").read_text()
    for line in (
        "CRM_ANALYTICS_MIN_CUSTOMERS=500",
        "CRM_ANALYTICS_FIT_SAMPLE=50000",
        "CRM_ANALYTICS_WORK_MEM=256MB",
        "CRM_RFM_METHOD=quintiles",
        "CRM_RFM_RECENCY_DAYS=30,60,90,180",
        "CRM_RFM_FREQUENCY_ORDERS=10,7,4,2",
        "CRM_RFM_MONETARY=5000,2500,1000,500",
    ):
        assert f"\n{line}\n" in documented

    loaded = settings_in_a_fresh_process()

    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {
        "CRM_ANALYTICS_MIN_CUSTOMERS": 500,
        "CRM_ANALYTICS_FIT_SAMPLE": 50000,
        "CRM_ANALYTICS_WORK_MEM": "256MB",
        "CRM_RFM_METHOD": "quintiles",
        "CRM_RFM_THRESHOLDS": {
            "recency": [30, 60, 90, 180],
            "frequency": [10, 7, 4, 2],
            "monetary": [5000, 2500, 1000, 500],
        },
    }


def test_the_environment_sets_them():
    loaded = settings_in_a_fresh_process(
        CRM_ANALYTICS_MIN_CUSTOMERS="100",
        CRM_ANALYTICS_FIT_SAMPLE="2000",
        CRM_ANALYTICS_WORK_MEM="64MB",
        CRM_RFM_METHOD="fixed",
        CRM_RFM_RECENCY_DAYS="7,14,28,56",
        CRM_RFM_FREQUENCY_ORDERS="6,4,3,2",
        CRM_RFM_MONETARY="800.50,400,200,100",
    )

    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout) == {
        "CRM_ANALYTICS_MIN_CUSTOMERS": 100,
        "CRM_ANALYTICS_FIT_SAMPLE": 2000,
        "CRM_ANALYTICS_WORK_MEM": "64MB",
        "CRM_RFM_METHOD": "fixed",
        "CRM_RFM_THRESHOLDS": {
            "recency": [7, 14, 28, 56],
            "frequency": [6, 4, 3, 2],
            "monetary": [800.5, 400.0, 200.0, 100.0],
        },
    }


def test_an_unknown_rfm_method_stops_the_start():
    loaded = settings_in_a_fresh_process(CRM_RFM_METHOD="ntile")

    assert loaded.returncode != 0
    assert "CRM_RFM_METHOD must be 'quintiles' or 'fixed', not 'ntile'" in loaded.stderr


def test_thresholds_need_four_values():
    loaded = settings_in_a_fresh_process(CRM_RFM_FREQUENCY_ORDERS="3,2")

    assert loaded.returncode != 0
    assert "each list 4 values" in loaded.stderr


def test_fixed_scoring_uses_the_thresholds_setting(settings):
    settings.CRM_RFM_METHOD = "fixed"
    settings.CRM_RFM_THRESHOLDS = {
        "recency": (1, 2, 3, 4),
        "frequency": (4, 3, 2, 1),
        "monetary": (40, 30, 20, 10),
    }

    r, f, m = rfm.rfm_scores([1, 2, 3, 4, 5], [4, 3, 2, 1, 0], [40, 30, 20, 10, 0])

    assert (list(r), list(f), list(m)) == ([5, 4, 3, 2, 1],) * 3


def settings_loaded(*names: str, **environ: str) -> dict:
    """The named settings of crm.settings loaded in a new process (as JSON) with the given
    variables set and none of the names' own variables inherited."""
    env = {key: value for key, value in os.environ.items() if key not in (*ENVIRONMENT, *names)}
    env.pop("CELERY_VISIBILITY_TIMEOUT", None)
    env.update(DJANGO_SETTINGS_MODULE="crm.settings", DJANGO_DEBUG="true", **environ)
    script = (
        "import json, environ; environ.Env.read_env = lambda *args, **kwargs: None; "
        "from django.conf import settings; "
        f"print(json.dumps({{name: getattr(settings, name) for name in {names!r}}}))"
    )
    loaded = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    return json.loads(loaded.stdout)


def test_the_heartbeat_timeout_defaults_to_five_minutes_as_documented():
    assert "\nCRM_ANALYTICS_HEARTBEAT_TIMEOUT=300\n" in (ROOT / ".env.example").read_text()
    assert "`CRM_ANALYTICS_HEARTBEAT_TIMEOUT`" in (ROOT / "docs/analytics.md").read_text()

    assert settings_loaded("CRM_ANALYTICS_HEARTBEAT_TIMEOUT") == {
        "CRM_ANALYTICS_HEARTBEAT_TIMEOUT": 300
    }
    assert settings_loaded(
        "CRM_ANALYTICS_HEARTBEAT_TIMEOUT", CRM_ANALYTICS_HEARTBEAT_TIMEOUT="120"
    ) == {"CRM_ANALYTICS_HEARTBEAT_TIMEOUT": 120}


def test_a_message_whose_worker_died_is_delivered_again():
    """Late acknowledgement, a message rejected back to the queue when its pool process dies,
    and a Redis visibility timeout after which an unacknowledged message goes back."""
    loaded = settings_loaded(
        "CELERY_TASK_ACKS_LATE",
        "CELERY_TASK_REJECT_ON_WORKER_LOST",
        "CELERY_BROKER_TRANSPORT_OPTIONS",
    )

    assert loaded["CELERY_TASK_ACKS_LATE"] is True
    assert loaded["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert loaded["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"] == 7200
    assert "\nCELERY_VISIBILITY_TIMEOUT=7200\n" in (ROOT / ".env.example").read_text()


def test_the_visibility_timeout_is_above_every_task_time_limit():
    """Below a task's time limit, Redis would hand a task that is still running to a second
    worker."""
    from crm.celery import app

    app.loader.import_default_modules()
    visibility = app.conf.broker_transport_options["visibility_timeout"]
    limits = {
        name: task.time_limit or app.conf.task_time_limit
        for name, task in app.tasks.items()
        if not name.startswith("celery.")
    }

    assert limits and all(limit for limit in limits.values()), limits
    assert visibility > max(limits.values()), limits


def test_a_visibility_timeout_not_above_every_task_time_limit_is_reported(settings):
    from crm.apps import celery_visibility_timeout_check
    from crm.celery import app

    previous = app.conf.broker_transport_options
    app.conf.broker_transport_options = {**previous, "visibility_timeout": 1200}
    try:
        warnings = celery_visibility_timeout_check(None)
    finally:
        app.conf.broker_transport_options = previous

    assert [warning.id for warning in warnings] == ["crm.W001"]
    assert "CELERY_VISIBILITY_TIMEOUT" in warnings[0].msg
    assert "customers.analytics_run" in warnings[0].msg
    assert celery_visibility_timeout_check(None) == []
