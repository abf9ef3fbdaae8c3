from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.text import slugify

from core.visibility import customers_visible_to
from customers.models import Customer, json_storage_error
from segments.rules import rules_q, rules_validate


def system_segment_message(name: str) -> str:
    return f"“{name}” is a pre-built segment: it cannot be deleted. Change its rules instead."


class Segment(models.Model):
    """A group of customers: those the rules match, plus the manual members.

    The rules are validated wherever the segment is saved from (``full_clean`` and ``save``
    refuse invalid ones with the same messages), so a stored segment always compiles. Pre-built
    segments (``is_system``) are created after migrate (segments/prebuilt.py); their rules may be
    edited, but they cannot be deleted.
    """

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True, allow_unicode=True, blank=True)
    description = models.TextField(blank=True)
    rules = models.JSONField(
        default=dict,
        blank=True,
        help_text="Which customers belong: {'match': 'all'|'any', 'conditions': [...]}. "
        "Empty: the manual members only.",
    )
    members = models.ManyToManyField(
        Customer,
        through="SegmentMembership",
        through_fields=("segment", "customer"),
        related_name="segments",
        blank=True,
    )
    is_system = models.BooleanField(
        "pre-built", default=False, editable=False, help_text="Pre-built: cannot be deleted."
    )
    # The key of a pre-built segment, so a renamed one is still found after the next migrate.
    system_key = models.CharField(max_length=50, blank=True, default="", editable=False)
    member_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    evaluated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["system_key"],
                condition=~Q(system_key=""),
                name="segment_system_key_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        # Every path (admin, services, shell, imports) is refused invalid rules, not only forms.
        errors = self.rules_errors()
        if errors:
            raise ValidationError({"rules": errors})
        if not self.slug:
            self.slug = slugify(self.name, allow_unicode=True)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.is_system:
            raise ValidationError(system_segment_message(self.name), code="system_segment")
        return super().delete(*args, **kwargs)

    def clean(self):
        super().clean()
        if not self.slug and self.name:
            self.slug = slugify(self.name, allow_unicode=True)
        errors = self.rules_errors()
        if errors:
            raise ValidationError({"rules": errors})

    def rules_errors(self) -> list[str]:
        storage = json_storage_error(self.rules)
        return [storage] if storage else rules_validate(self.rules)

    def rules_filter(self, today=None) -> Q:
        """The filter of the rules alone (no manual members)."""
        return rules_q(self.rules, today=today)

    def customers(self, user=None, *, today=None) -> QuerySet:
        """The segment's customers, rules OR manual members, as one queryset of Customer with
        no duplicates: from what ``user`` may see when given, else from every customer."""
        base = customers_visible_to(user) if user is not None else Customer.objects.all()
        manual = SegmentMembership.objects.filter(segment_id=self.pk, customer_id=OuterRef("pk"))
        return base.filter(self.rules_filter(today) | Q(Exists(manual)))


class SegmentMembership(models.Model):
    """A customer added to a segment by hand, whatever its rules say."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_memberships"
    )
    added_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-added_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "customer"],
                name="segment_membership_unique",
                violation_error_message="This customer is already a member of the segment.",
            ),
        ]
        indexes = [models.Index(fields=["customer"], name="segment_member_customer_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} in {self.segment_id}"


class BulkAction(models.Model):
    """One action on a segment's members (all of them, or a selection): tag them, untag them,
    or add them to another segment by hand.

    It works through the customers in batches of ids (``done_up_to`` is the last id done,
    written in the transaction of its batch), so an action interrupted anywhere is finished by
    running it again, and each batch is a statement that changes nothing the second time. The
    members are those the segment has while the action runs, among the customers that existed
    when it started (ids up to ``last_customer_id``).
    """

    class Kind(models.TextChoices):
        ADD_TAG = "add_tag", "Add a tag"
        REMOVE_TAG = "remove_tag", "Remove a tag"
        ADD_TO_SEGMENT = "add_to_segment", "Add to another segment"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Stopped by an error"

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="bulk_actions")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    tag = models.ForeignKey(
        "customers.Tag", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    target_segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # The chosen customers' ids, or null for every member.
    customer_ids = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    member_count = models.PositiveIntegerField(default=0)
    last_customer_id = models.BigIntegerField(default=0)
    done_up_to = models.BigIntegerField(default=0)
    changed_count = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["segment", "-created_at"], name="bulk_action_segment_idx")]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind__in=["add_tag", "remove_tag"], tag__isnull=False)
                    | Q(kind="add_to_segment", target_segment__isnull=False)
                ),
                name="bulk_action_has_its_object",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.segment}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def percent_done(self) -> int:
        if self.status == self.Status.SUCCEEDED or not self.last_customer_id:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, int(100 * self.done_up_to / self.last_customer_id))

    def describe(self) -> str:
        """What the action does, in words: "Add the tag “vip”"."""
        if self.kind == self.Kind.ADD_TAG:
            return f"Add the tag “{self.tag}”"
        if self.kind == self.Kind.REMOVE_TAG:
            return f"Remove the tag “{self.tag}”"
        return f"Add to the segment “{self.target_segment}”"
