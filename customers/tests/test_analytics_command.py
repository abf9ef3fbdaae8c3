"""`manage.py analytics_run`: scoring by hand, what it refuses, and what it prints."""

import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import AnalyticsRun, Customer
from customers.tests.factories import CustomerFactory, customers_with_orders, silent_run

pytestmark = pytest.mark.django_db


def test_command_refuses_a_bad_date():
    with pytest.raises(CommandError, match=r"--as-of '2024-13-01' is not a date; use YYYY-MM-DD"):
        call_command("analytics_run", "--as-of", "2024-13-01")

    assert not AnalyticsRun.objects.exists()


def test_command_refuses_a_date_in_the_future():
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()

    with pytest.raises(CommandError, match="is in the future"):
        call_command("analytics_run", "--as-of", tomorrow)


def test_command_refuses_an_unknown_model():
    with pytest.raises(
        CommandError, match=r"Unknown --model 'pareto'; choose one of mbgnbd, bgnbd"
    ):
        call_command("analytics_run", "--model", "pareto")

    assert not AnalyticsRun.objects.exists()


def test_command_exits_non_zero_with_the_message_from_the_shell():
    manage = Path(__file__).resolve().parents[2] / "manage.py"

    finished = subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, str(manage), "analytics_run", "--model", "pareto"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert finished.returncode != 0
    assert "Unknown --model 'pareto'" in finished.stderr


def test_command_refuses_while_another_run_holds_the_lock(monkeypatch):
    from customers.analytics import run as run_module

    monkeypatch.setattr(run_module, "_lock_acquire", lambda: False)

    with pytest.raises(CommandError, match="Another analytics run is in progress"):
        call_command("analytics_run")

    refused = AnalyticsRun.objects.get()
    assert refused.status == AnalyticsRun.Status.SKIPPED
    assert "in progress" in refused.error


def test_command_scores_the_customers_and_prints_the_summary():
    customers = customers_with_orders(3)
    CustomerFactory()  # a prospect: scored as one, without orders
    as_of = timezone.localdate().isoformat()
    out = StringIO()

    call_command("analytics_run", "--as-of", as_of, "--model", "bgnbd", stdout=out)

    run = AnalyticsRun.objects.get()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.model_name == "bgnbd"
    printed = out.getvalue()
    assert f"Analytics run {run.pk} as of {as_of}: 4 customers scored (3 with orders)" in printed
    assert "Model: BG/NBD (bgnbd)" in printed
    assert "Fitted parameters: none" in printed
    assert "Log-likelihood: n/a" in printed
    assert f"Fallback used: yes ({run.fallback_reason})" in printed
    assert "Only 3 customers" in run.fallback_reason
    assert "Drift fixed: 0 customer(s)" in printed
    for step in run.step_timings:
        assert f"  {step} " in printed
    assert {"reconcile", "upkeep"} <= set(run.step_timings)
    scored = Customer.objects.filter(pk__in=[customer.pk for customer in customers])
    assert all(customer.p_alive is not None for customer in scored)


def test_command_reports_the_drift_it_fixed():
    customer = customers_with_orders(1)[0]
    Customer.objects.filter(pk=customer.pk).update(order_count=9)
    out = StringIO()

    call_command("analytics_run", stdout=out)

    assert "Drift fixed: 1 customer(s)" in out.getvalue()
    assert Customer.objects.get(pk=customer.pk).order_count == 1


def test_command_is_not_held_up_by_an_abandoned_run(settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    customers_with_orders(2)
    dead = silent_run(minutes=30)

    call_command("analytics_run", stdout=StringIO())

    new = AnalyticsRun.objects.exclude(pk=dead.pk).get()
    assert new.status == AnalyticsRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == AnalyticsRun.Status.FAILED and "Abandoned" in dead.error
