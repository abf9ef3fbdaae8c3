"""The import jobs in admin: a read-only list of past jobs, each job's page with a progress bar
that updates itself (htmx polling a fragment) while it runs, the report of its errors as CSV, and
an action that queues a failed job again."""

from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse

from core.admin import ReadOnlyAdmin
from core.exports.streaming import csv_streaming_response
from core.jobs.services import import_job_progress, import_job_retry
from core.models import ImportJob


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "file_name",
        "resource",
        "status",
        "rows_done",
        "rows_total",
        "error_count",
        "created_by",
        "finished_at",
    )
    list_filter = ("status",)
    list_select_related = ("created_by",)
    search_fields = ("file_name",)
    date_hierarchy = "created_at"
    fields = (
        "file_name",
        "resource",
        "input_format",
        "encoding",
        "status",
        ("rows_done", "rows_total"),
        ("rows_new", "rows_updated", "rows_unchanged"),
        "error_count",
        "error",
        "attempts",
        "created_by",
        ("created_at", "started_at", "finished_at"),
    )
    readonly_fields = tuple(
        name for entry in fields for name in (entry if isinstance(entry, tuple) else (entry,))
    )
    actions = ("run_again",)

    def get_queryset(self, request):
        # The file stays in the database: lists and pages never read it.
        return super().get_queryset(request).defer("data")

    def has_change_permission(self, request, obj=None):
        # "Run again" needs it; the page stays read-only (every field is).
        return obj is None and request.user.has_perm("core.change_importjob")

    @admin.action(description="Run the selected failed jobs again", permissions=["change"])
    def run_again(self, request, queryset):
        queued = sum(import_job_retry(job=job) for job in queryset)
        skipped = queryset.count() - queued
        if queued:
            self.message_user(request, f"{queued} job(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} job(s) had not failed: left as they are.", messages.WARNING
            )

    def get_urls(self):
        view = self.admin_site.admin_view
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/progress/",
                view(self.progress_view),
                name="{}_{}_progress".format(*info),
            ),
            path(
                "<path:object_id>/report/",
                view(self.report_view),
                name="{}_{}_report".format(*info),
            ),
            *super().get_urls(),
        ]

    def _job(self, request, object_id) -> ImportJob:
        job = self.get_object(request, unquote(object_id))
        if job is None or not self.has_view_permission(request, job):
            raise Http404("No such import job.")
        return job

    def progress_context(self, job: ImportJob) -> dict:
        rows_done = import_job_progress(job)
        total = job.rows_total or 0
        return {
            "job": job,
            "rows_done": rows_done,
            "percent": min(100, round(100 * rows_done / total)) if total else job.percent,
            "active": not job.finished,
            "progress_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_progress",
                args=[quote(job.pk)],
            ),
            "report_url": reverse(
                f"admin:{self.opts.app_label}_{self.opts.model_name}_report",
                args=[quote(job.pk)],
            ),
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self._job(request, object_id)
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **self.progress_context(job)}
        )

    def progress_view(self, request, object_id):
        """The progress fragment the job's page polls while the job runs."""
        job = self._job(request, object_id)
        return TemplateResponse(
            request, "admin/core/importjob/progress_fragment.html", self.progress_context(job)
        )

    def report_view(self, request, object_id):
        """The job's errors as CSV: row, column, problem."""
        job = self._job(request, object_id)
        rows = [("row", "column", "error")] + [
            (error.get("row") or "", error.get("column", ""), error.get("message", ""))
            for error in job.errors
        ]
        return csv_streaming_response(rows, f"import-job-{job.pk}-errors.csv")
