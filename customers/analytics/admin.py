"""The nightly analytics runs in admin: a read-only record of each run, "Run now", and a page
that follows a run's progress."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from core.admin import GuardedChangeListMixin, ReadOnlyAdminMixin
from customers.analytics.backtest_report import backtest_context
from customers.analytics.ops import (
    ACTIVE,
    analytics_run_abandoned,
    analytics_run_in_progress,
    analytics_run_last_sign_of_life,
    analytics_run_queue,
)
from customers.analytics.vocabulary import DEFAULT_MODEL, FALLBACK_LABEL
from customers.models import AnalyticsRun, Customer


class RunNowForm(forms.Form):
    model = forms.ChoiceField(
        choices=AnalyticsRun.Model.choices, initial=DEFAULT_MODEL, required=False
    )

    def clean_model(self):
        return self.cleaned_data["model"] or DEFAULT_MODEL


def _number(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _table(headers: tuple[str, str], rows):
    """A two-column HTML table for a read-only field, or None when there are no rows."""
    body = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows)
    if not body:
        return None
    return format_html(
        "<table><thead><tr><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody></table>",
        *headers,
        body,
    )


def _parameter_rows(values: dict, prefix: str = ""):
    """Fitted parameters may be grouped by model ({"mbgnbd": {...}, "gamma_gamma": {...}})."""
    for key, value in values.items():
        if isinstance(value, dict):
            yield from _parameter_rows(value, f"{prefix}{key}.")
        else:
            yield (f"{prefix}{key}", _number(value))


@admin.register(AnalyticsRun)
class AnalyticsRunAdmin(GuardedChangeListMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Runs are written by the run itself (nightly, "Run now" or the analytics_run command);
    here they are only viewed."""

    change_list_template = "admin/customers/analyticsrun/change_list.html"
    change_form_template = "admin/customers/analyticsrun/change_form.html"
    list_display = (
        "as_of",
        "model_name",
        "run_status",
        "customers_scored",
        "fallback_used",
        "drift_count",
        "duration",
        "started_at",
    )
    list_filter = ("status", "model_name", "fallback_used")
    show_full_result_count = False
    date_hierarchy = "as_of"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "as_of",
                    "model_name",
                    "run_status",
                    "progress_summary",
                    "last_sign_of_life",
                    "task_id",
                )
            },
        ),
        (
            "Result",
            {
                "fields": (
                    ("customers_scored", "customers_with_orders"),
                    "fitted_parameters",
                    "log_likelihood",
                    ("fallback_used", "fallback_reason"),
                    "drift_count",
                    "segments",
                )
            },
        ),
        ("Backtest", {"fields": ("backtest_figures",)}),
        ("Timing", {"fields": (("started_at", "finished_at"), "duration", "timings")}),
        ("Error", {"fields": ("error_text",)}),
    )
    readonly_fields = flatten_fieldsets(fieldsets)  # a run is written by the run alone

    # Columns and fields ---------------------------------------------------------------------

    @admin.display(description="Duration", ordering="duration_seconds")
    def duration(self, run):
        return f"{run.duration_seconds:.1f} s" if run.duration_seconds is not None else None

    @admin.display(description="Status", ordering="status")
    def run_status(self, run):
        """The status, and for a queued or running run that went silent, that it is abandoned."""
        if not analytics_run_abandoned(run):
            return run.get_status_display()
        silent_since = timezone.localtime(analytics_run_last_sign_of_life(run))
        return format_html(
            '<strong class="analytics-run-abandoned">Abandoned</strong> '
            "({}, no sign of life since {})",
            run.get_status_display().lower(),
            date_format(silent_since, "DATETIME_FORMAT"),
        )

    @admin.display(description="Last sign of life")
    def last_sign_of_life(self, run):
        return run.heartbeat_at

    @admin.display(description="Progress")
    def progress_summary(self, run):
        step = f", {run.current_step}" if run.current_step else ""
        if run.status not in ACTIVE or analytics_run_abandoned(run):
            return f"{run.progress}%{step}"
        return format_html(
            '{}%{} — <a href="{}">follow the progress</a>',
            run.progress,
            step,
            self._progress_url(run),
        )

    @admin.display(description="Fitted parameters")
    def fitted_parameters(self, run):
        table = _table(("Parameter", "Value"), _parameter_rows(run.parameters or {}))
        return table or f"None (the {FALLBACK_LABEL.lower()} has no fitted parameters)."

    @admin.display(description="Customers per segment")
    def segments(self, run):
        order = {segment.value: index for index, segment in enumerate(Customer.RfmSegment)}
        rows = sorted((run.segment_counts or {}).items(), key=lambda row: order.get(row[0], 99))
        return _table(("Segment", "Customers"), ((name, f"{count:,}") for name, count in rows))

    @admin.display(description="How far to trust the scores")
    def backtest_figures(self, run):
        """The backtest's figures, its sentence and the calibration chart and table."""
        return render_to_string(
            "customers/partials/backtest.html", backtest_context(run.backtest or {})
        )

    @admin.display(description="Seconds per step")
    def timings(self, run):
        steps = run.steps_in_order()
        return _table(("Step", "Seconds"), ((step, _number(seconds)) for step, seconds in steps))

    @admin.display(description="Error")
    def error_text(self, run):
        return format_html("<pre>{}</pre>", run.error) if run.error else None

    # Run now and the progress page ----------------------------------------------------------

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        # Before the default URLs: their "<path:object_id>/" would swallow ".../progress/".
        return [
            path(
                "run-now/",
                view(require_POST(self.run_now_view)),
                name="{}_{}_run_now".format(*info),
            ),
            path(
                "<path:object_id>/progress/",
                view(self.progress_view),
                name="{}_{}_progress".format(*info),
            ),
            path(
                "<path:object_id>/progress/fragment/",
                view(self.progress_fragment_view),
                name="{}_{}_progress_fragment".format(*info),
            ),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args) -> str:
        opts = self.opts
        return reverse(
            f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_{name}", args=args
        )

    def _progress_url(self, run) -> str:
        return self._url("progress", quote(run.pk))

    def has_run_permission(self, request) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.add_{self.opts.model_name}")

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_run_now": self.has_run_permission(request),
            "run_now_form": RunNowForm(),
            "run_now_url": self._url("run_now"),
            "run_in_progress": analytics_run_in_progress(),
        }
        return super().changelist_view(request, extra_context)

    def run_now_view(self, request):
        if not self.has_run_permission(request):
            raise PermissionDenied
        changelist_url = self._url("changelist")
        form = RunNowForm(request.POST)
        if not form.is_valid():
            self.message_user(request, f"Not started: {form.errors['model'][0]}", messages.ERROR)
            return HttpResponseRedirect(changelist_url)
        running = analytics_run_in_progress()
        if running is not None:
            self.message_user(
                request,
                f"Not started: run {running.pk} is still {running.get_status_display().lower()}.",
                messages.WARNING,
            )
            return HttpResponseRedirect(self._progress_url(running))
        run = analytics_run_queue(model=form.cleaned_data["model"], requested_by=request.user)
        # The history of the run names who started it.
        self.log_addition(request, run, f"Run now ({run.model_name}).")
        self.message_user(request, f"Analytics run {run.pk} started.", messages.SUCCESS)
        return HttpResponseRedirect(self._progress_url(run))

    def _run_for(self, request, object_id) -> AnalyticsRun:
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404(f"No analytics run with id {object_id!r}.")
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        return run

    def _progress_context(self, run) -> dict:
        abandoned = analytics_run_abandoned(run)
        return {
            "run": run,
            "active": run.status in ACTIVE and not abandoned,
            "abandoned": abandoned,
            "last_sign_of_life": analytics_run_last_sign_of_life(run),
            "steps_done": run.steps_in_order(),
            "fragment_url": self._url("progress_fragment", quote(run.pk)),
            "detail_url": self._url("change", quote(run.pk)),
        }

    def progress_view(self, request, object_id):
        run = self._run_for(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            **self._progress_context(run),
            "title": f"Analytics run {run.pk}: progress",
            "opts": self.opts,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/analyticsrun/progress.html", context)

    def progress_fragment_view(self, request, object_id):
        run = self._run_for(request, object_id)
        return TemplateResponse(
            request,
            "admin/customers/analyticsrun/progress_fragment.html",
            self._progress_context(run),
        )
