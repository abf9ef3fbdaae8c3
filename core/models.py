"""Tables every app shares: the import jobs (core/jobs/)."""

from django.conf import settings
from django.db import models


class ImportJob(models.Model):
    """A big import run by a Celery worker: the file, what it imports into, and how far it got.
    The file is kept in the row, so any worker on any machine can read it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=255)
    data = models.BinaryField(editable=False)
    input_format = models.CharField(max_length=20, default="csv")
    encoding = models.CharField(max_length=40, default="utf-8-sig")
    # The dotted path of the resource class (customers.resources.CustomerResource).
    resource = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    rows_total = models.PositiveIntegerField(null=True, blank=True)
    rows_done = models.PositiveIntegerField(default=0)
    rows_new = models.PositiveIntegerField(default=0)
    rows_updated = models.PositiveIntegerField(default=0)
    rows_unchanged = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    # The first errors, each {"row", "column", "message"}; the report offers them as CSV.
    errors = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = [models.Index(fields=["-created_at"], name="core_importjob_created_idx")]

    def __str__(self) -> str:
        return f"Import of {self.file_name} ({self.get_status_display().lower()})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if not self.rows_total:
            return 100 if self.finished else 0
        return min(100, round(100 * self.rows_done / self.rows_total))
