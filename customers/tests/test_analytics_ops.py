"""Everything around the nightly analytics run: the command, the task, "Run now" and the progress
page in admin, and the beat schedule."""

import re
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from pathlib import Path
from unittest.mock import Mock

import pytest
from celery.contrib.testing.worker import start_worker
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from crm.celery import app
from customers.analytics_ops import analytics_run_queue
from customers.models import AnalyticsRun, Customer
from customers.tasks import analytics_chain
from customers.tasks import analytics_nightly as analytics_nightly_task
from customers.tasks import analytics_run as analytics_run_task
from customers.tasks import analytics_upkeep as analytics_upkeep_task
from customers.tests.factories import CustomerFactory, OrderFactory

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:customers_analyticsrun_changelist")
RUN_NOW_URL = reverse("admin:customers_analyticsrun_run_now")


def progress_url(run) -> str:
    return reverse("admin:customers_analyticsrun_progress", args=[run.pk])


def fragment_url(run) -> str:
    return reverse("admin:customers_analyticsrun_progress_fragment", args=[run.pk])


def detail_url(run) -> str:
    return reverse("admin:customers_analyticsrun_change", args=[run.pk])


def customers_with_orders(count: int = 3) -> list[Customer]:
    """A few customers with delivered orders spread over the last months (far below the 500 the
    models need, so the run uses the fallback heuristic)."""
    now = timezone.now()
    customers = []
    for index in range(count):
        customer = CustomerFactory()
        for months_ago in range(index + 1):
            OrderFactory(
                customer=customer,
                status="delivered",
                placed_at=now - timedelta(days=30 * months_ago + 3 * index + 1),
            )
        customers.append(customer)
    return customers


def finished_run(**fields) -> AnalyticsRun:
    now = timezone.now()
    values = {
        "as_of": now.date(),
        "status": AnalyticsRun.Status.SUCCEEDED,
        "started_at": now - timedelta(seconds=12),
        "finished_at": now,
        "duration_seconds": 12.3,
        "customers_scored": 1200,
        "customers_with_orders": 800,
        "parameters": {
            "mbgnbd": {"r": 0.243, "alpha": 4.41, "a": 0.793, "b": 2.43},
            "gamma_gamma": {"p": 6.25, "q": 3.74, "v": 15.4},
        },
        "log_likelihood": -9582.43,
        "drift_count": 2,
        "step_timings": {"reconcile": 0.41, "aggregate": 1.2, "churn": 7.7},
        "segment_counts": {"Prospect": 400, "Lost": 1234, "Champions": 56},
        "progress": 100,
        **fields,
    }
    return AnalyticsRun.objects.create(**values)


# The management command -------------------------------------------------------------------------


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
    assert refused.status == AnalyticsRun.Status.FAILED
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


# The task and the queue -------------------------------------------------------------------------


def test_queue_creates_a_queued_run_that_runs_at_commit(django_capture_on_commit_callbacks):
    customers_with_orders(2)

    with django_capture_on_commit_callbacks() as callbacks:
        run = analytics_run_queue(model="bgnbd")
        queued = AnalyticsRun.objects.get(pk=run.pk)
        assert queued.status == AnalyticsRun.Status.QUEUED
        assert queued.task_id
    assert len(callbacks) == 1
    callbacks[0]()

    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.model_name == "bgnbd"
    assert run.customers_with_orders == 2
    assert run.task_id == queued.task_id
    assert "upkeep" in run.step_timings  # the chain's second link ran after the run


def test_queue_refuses_an_unknown_model(django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(ValueError, match="Unknown model 'pareto'"),
    ):
        analytics_run_queue(model="pareto")

    assert callbacks == []
    assert not AnalyticsRun.objects.exists()


def test_task_does_nothing_for_a_run_that_already_succeeded():
    CustomerFactory()
    run = finished_run(customers_scored=7)
    before = AnalyticsRun.objects.get(pk=run.pk)

    result = analytics_run_task.delay(run_id=run.pk)

    assert result.get() is None
    run.refresh_from_db()
    assert run.customers_scored == 7
    assert (run.started_at, run.finished_at) == (before.started_at, before.finished_at)
    assert AnalyticsRun.objects.count() == 1


def test_task_without_a_run_starts_a_new_one_as_the_nightly_schedule_does():
    customers_with_orders(2)

    run_id = analytics_run_task.delay(as_of=timezone.localdate().isoformat()).get()

    run = AnalyticsRun.objects.get(pk=run_id)
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.model_name == "mbgnbd"
    assert run.customers_scored == 2


def test_nightly_task_sends_the_chain_run_then_upkeep():
    customers_with_orders(2)

    analytics_nightly_task.delay(model="bgnbd")

    run = AnalyticsRun.objects.get()
    assert (run.status, run.model_name, run.as_of) == ("succeeded", "bgnbd", timezone.localdate())
    assert [step for step, _ in run.steps_in_order()][-2:] == ["write", "upkeep"]


def test_chain_leaves_the_table_alone_after_a_failed_run(monkeypatch):
    from customers.analytics import run as run_module

    customers_with_orders(2)
    monkeypatch.setattr(run_module, "orders_summarise", Mock(side_effect=RuntimeError("boom")))

    with pytest.raises(RuntimeError):
        analytics_chain().apply_async()

    run = AnalyticsRun.objects.get()
    assert run.status == AnalyticsRun.Status.FAILED
    assert "upkeep" not in run.step_timings
    assert analytics_upkeep_task.delay(run.pk).get() == run.pk  # a link sent anyway: no upkeep
    run.refresh_from_db()
    assert "upkeep" not in run.step_timings


def test_task_carries_out_a_queued_run():
    customers_with_orders(2)
    run = AnalyticsRun.objects.create(as_of=timezone.localdate(), model_name="bgnbd")

    assert analytics_run_task.delay(run_id=run.pk).get() == run.pk

    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.progress == 100


def test_task_leaves_the_customers_to_a_run_already_going(monkeypatch):
    from customers.analytics import run as run_module

    monkeypatch.setattr(run_module, "_lock_acquire", lambda: False)
    run = AnalyticsRun.objects.create(as_of=timezone.localdate())

    assert analytics_run_task.delay(run_id=run.pk).get() is None

    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.FAILED
    assert "in progress" in run.error


# Admin: the list, the detail page ---------------------------------------------------------------


def test_changelist_lists_the_runs_with_a_pinned_query_count(
    admin_client, django_assert_max_num_queries
):
    for days_ago in range(20):
        finished_run(as_of=timezone.localdate() - timedelta(days=days_ago), fallback_used=True)

    with django_assert_max_num_queries(7):
        response = admin_client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 20
    content = response.content.decode()
    assert "12.3 s" in content
    assert 'value="Run now"' in content


def test_changelist_hides_run_now_without_the_add_permission(client_with_perms):
    client = client_with_perms("customers.view_analyticsrun")
    finished_run()

    response = client.get(CHANGELIST_URL)

    assert response.status_code == 200
    assert 'value="Run now"' not in response.content.decode()


def test_runs_cannot_be_added_changed_or_deleted_by_hand(admin_client):
    run = finished_run()

    assert admin_client.get(reverse("admin:customers_analyticsrun_add")).status_code == 403
    assert admin_client.post(detail_url(run), {"customers_scored": 1}).status_code == 403
    delete = reverse("admin:customers_analyticsrun_delete", args=[run.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AnalyticsRun.objects.get(pk=run.pk).customers_scored == 1200


def test_detail_page_shows_timings_parameters_and_the_fallback(
    admin_client, django_assert_max_num_queries
):
    run = finished_run(
        fallback_used=True,
        fallback_reason="The mbgnbd fit did not converge (too few repeat buyers).",
    )

    with django_assert_max_num_queries(4):
        response = admin_client.get(detail_url(run))

    assert response.status_code == 200
    content = response.content.decode()
    assert "<td>mbgnbd.alpha</td><td>4.41</td>" in content
    assert "<td>gamma_gamma.q</td><td>3.74</td>" in content
    assert "-9582.43" in content
    assert "<td>churn</td><td>7.7</td>" in content
    assert "too few repeat buyers" in content
    segments = re.findall(r"<td>([A-Za-z' ]+)</td><td>([\d,]+)</td>", content)
    assert segments == [("Champions", "56"), ("Lost", "1,234"), ("Prospect", "400")]


def test_detail_page_of_a_failed_run_shows_the_error(admin_client):
    run = finished_run(status=AnalyticsRun.Status.FAILED, error="ValueError: <no orders>")

    response = admin_client.get(detail_url(run))

    assert "<pre>ValueError: &lt;no orders&gt;</pre>" in response.content.decode()


# Admin: Run now and the progress page -----------------------------------------------------------


def test_run_now_starts_a_run_and_shows_its_progress(
    admin_client, django_capture_on_commit_callbacks
):
    customers_with_orders(3)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(RUN_NOW_URL, {"model": "bgnbd"})

    run = AnalyticsRun.objects.get()
    assert response.status_code == 302
    assert response.url == progress_url(run)
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.model_name == "bgnbd"
    assert run.customers_scored == 3
    page = admin_client.get(response.url)
    content = page.content.decode()
    assert "Succeeded" in content
    assert "100%" in content
    assert detail_url(run) in content
    assert 'hx-trigger="every 2s"' not in content


def test_run_now_records_who_started_the_run(admin_client, admin_user):
    from django.contrib.admin.models import ADDITION, LogEntry

    admin_client.post(RUN_NOW_URL)  # the run itself waits for a commit that never comes here

    run = AnalyticsRun.objects.get()
    assert run.model_name == "mbgnbd"
    entry = LogEntry.objects.get(object_id=str(run.pk))
    assert (entry.user, entry.action_flag) == (admin_user, ADDITION)


def test_run_now_refuses_get(admin_client):
    response = admin_client.get(RUN_NOW_URL)

    assert response.status_code == 405
    assert not AnalyticsRun.objects.exists()


def test_run_now_needs_the_add_permission(client_with_perms):
    client = client_with_perms("customers.view_analyticsrun")

    response = client.post(RUN_NOW_URL, {"model": "mbgnbd"})

    assert response.status_code == 403
    assert not AnalyticsRun.objects.exists()


def test_run_now_needs_the_csrf_token(admin_user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    response = client.post(RUN_NOW_URL, {"model": "mbgnbd"})

    assert response.status_code == 403
    assert not AnalyticsRun.objects.exists()


def test_run_now_refuses_an_unknown_model(admin_client):
    response = admin_client.post(RUN_NOW_URL, {"model": "pareto"}, follow=True)

    assert "Not started: Select a valid choice" in response.content.decode()
    assert not AnalyticsRun.objects.exists()


def test_run_now_while_a_run_is_going_leads_to_that_run(admin_client):
    running = AnalyticsRun.objects.create(
        as_of=timezone.localdate(), status=AnalyticsRun.Status.RUNNING, progress=40
    )

    response = admin_client.post(RUN_NOW_URL, {"model": "mbgnbd"})

    assert response.url == progress_url(running)
    assert AnalyticsRun.objects.count() == 1


def test_progress_fragment_polls_while_the_run_is_going(admin_client):
    run = AnalyticsRun.objects.create(
        as_of=timezone.localdate(),
        status=AnalyticsRun.Status.RUNNING,
        progress=42,
        current_step="churn",
        step_timings={"reconcile": 0.5},
    )

    response = admin_client.get(fragment_url(run))

    content = response.content.decode()
    assert response.status_code == 200
    assert '<progress max="100" value="42"' in content
    assert "42%" in content
    assert "Current step: churn" in content
    assert f'hx-get="{fragment_url(run)}" hx-trigger="every 2s"' in content
    assert "<html" not in content


def test_progress_fragment_stops_polling_and_links_the_results_when_done(admin_client):
    run = finished_run()

    content = admin_client.get(fragment_url(run)).content.decode()

    assert "hx-trigger" not in content
    assert "100%" in content
    assert detail_url(run) in content


def test_progress_page_loads_htmx_and_the_fragment(admin_client, django_assert_max_num_queries):
    run = AnalyticsRun.objects.create(as_of=timezone.localdate())

    with django_assert_max_num_queries(3):
        response = admin_client.get(progress_url(run))

    content = response.content.decode()
    assert "vendor/htmx-2.0.11/htmx.min.js" in content
    assert 'hx-trigger="every 2s"' in content
    assert "waiting for a worker" in content
    assert '<meta http-equiv="refresh" content="5">' in content


def test_progress_page_of_a_missing_run_is_not_found(admin_client):
    assert (
        admin_client.get(reverse("admin:customers_analyticsrun_progress", args=[999])).status_code
        == 404
    )


def test_progress_needs_the_view_permission(client_with_perms):
    run = AnalyticsRun.objects.create(as_of=timezone.localdate())
    client = client_with_perms("customers.view_customer")

    assert client.get(fragment_url(run)).status_code == 403


# The schedule -----------------------------------------------------------------------------------


def test_schedule_runs_the_analytics_nightly_at_half_past_one():
    nightly = PeriodicTask.objects.select_related("crontab").get(
        name="Customer analytics (nightly)"
    )

    assert nightly.task == "customers.analytics_nightly"
    assert nightly.enabled
    assert (nightly.crontab.minute, nightly.crontab.hour) == ("30", "1")
    assert nightly.task in app.tasks


def test_managers_may_start_a_run():
    managers = Group.objects.get(name="Managers")

    assert managers.permissions.filter(codename="add_analyticsrun").exists()


# Through a real worker --------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_queued_run_succeeds_on_a_worker_through_redis():
    customers_with_orders(3)
    app.conf.task_always_eager = False
    connection.close()  # the worker thread opens its own connection

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        run = analytics_run_queue(model="mbgnbd")
        run_id = app.AsyncResult(run.task_id).get(timeout=120)
        deadline = time.monotonic() + 60  # the chain's second link follows on the worker
        while "upkeep" not in AnalyticsRun.objects.get(pk=run.pk).step_timings:
            assert time.monotonic() < deadline, "the upkeep link did not run"
            time.sleep(0.2)

    assert run_id == run.pk
    run.refresh_from_db()
    assert run.status == AnalyticsRun.Status.SUCCEEDED
    assert run.customers_scored == 3
    assert run.fallback_used
    assert run.step_timings["upkeep"] >= 0
