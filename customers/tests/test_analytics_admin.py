"""The analytics runs in admin (customers/analytics/admin.py): the list, a run's page, "Run now"
and the progress page."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import AnalyticsRun
from customers.tests.factories import customers_with_orders, silent_run

pytestmark = pytest.mark.django_db

CHANGELIST_URL = reverse("admin:customers_analyticsrun_changelist")
RUN_NOW_URL = reverse("admin:customers_analyticsrun_run_now")


def progress_url(run) -> str:
    return reverse("admin:customers_analyticsrun_progress", args=[run.pk])


def fragment_url(run) -> str:
    return reverse("admin:customers_analyticsrun_progress_fragment", args=[run.pk])


def detail_url(run) -> str:
    return reverse("admin:customers_analyticsrun_change", args=[run.pk])


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


# Admin: abandoned runs ----------------------------------------------------------------------------


def abandoned_run(**fields) -> AnalyticsRun:
    """A run whose worker was killed at 83%, listed as created when it started."""
    run = silent_run(current_step="write", **fields)
    AnalyticsRun.objects.filter(pk=run.pk).update(created_at=run.started_at)
    return AnalyticsRun.objects.get(pk=run.pk)


def test_run_now_is_not_refused_because_of_an_abandoned_run(
    admin_client, django_capture_on_commit_callbacks, settings
):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    customers_with_orders(2)
    dead = abandoned_run()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(RUN_NOW_URL, {"model": "mbgnbd"}, follow=True)

    new = AnalyticsRun.objects.exclude(pk=dead.pk).get()
    assert response.redirect_chain[0][0] == progress_url(new)
    assert f"Analytics run {new.pk} started." in response.content.decode()
    assert new.status == AnalyticsRun.Status.SUCCEEDED
    dead.refresh_from_db()
    assert dead.status == AnalyticsRun.Status.FAILED
    assert "Abandoned" in dead.error


def test_changelist_shows_an_abandoned_run_as_abandoned(admin_client, settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    abandoned_run()

    content = admin_client.get(CHANGELIST_URL).content.decode()

    assert "Abandoned" in content
    assert "is running: follow it" not in content  # it holds up nothing


def test_detail_page_shows_an_abandoned_run_as_abandoned(admin_client, settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    run = abandoned_run()

    content = admin_client.get(detail_url(run)).content.decode()

    assert "Abandoned" in content
    assert "no sign of life since" in content
    assert "Last sign of life" in content


def test_progress_of_an_abandoned_run_stops_polling_and_says_so(admin_client, settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    run = abandoned_run()

    content = admin_client.get(fragment_url(run)).content.decode()

    assert "hx-trigger" not in content
    assert "Abandoned" in content
    assert "no sign of life since" in content
    assert "83%" in content
    page = admin_client.get(progress_url(run)).content.decode()
    assert 'http-equiv="refresh"' not in page


def test_a_live_run_is_not_shown_as_abandoned(admin_client, settings):
    settings.CRM_ANALYTICS_HEARTBEAT_TIMEOUT = 300
    run = AnalyticsRun.objects.create(
        as_of=timezone.localdate(),
        status=AnalyticsRun.Status.RUNNING,
        progress=50,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )

    assert "Abandoned" not in admin_client.get(fragment_url(run)).content.decode()
    assert "Abandoned" not in admin_client.get(CHANGELIST_URL).content.decode()


def test_detail_page_of_a_skipped_run_says_why(admin_client):
    run = finished_run(
        status=AnalyticsRun.Status.SKIPPED, error="Another analytics run is in progress."
    )

    content = admin_client.get(detail_url(run)).content.decode()

    assert "Skipped" in content
    assert "Another analytics run is in progress." in content
