from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from core.admin import GuardedChangeListMixin, LabelledInlineFormSet, ReadOnlyAdmin
from core.imports.admin import CrmImportExportMixin
from customers.forms import JSONTextField
from segments import services
from segments.bulk import bulk_kinds_for
from segments.exports import members_csv_response
from segments.models import BulkAction, Segment, SegmentMembership, system_segment_message
from segments.resources import SegmentResource
from segments.rules import rules_describe
from segments.tasks import bulk_action_run

PREVIEW_SIZE = 20


class SegmentMembershipFormSet(LabelledInlineFormSet):
    """Existing members are shown, not chosen again: the autocomplete widget would look up each
    row's customer with a query of its own."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        membership = form.instance
        if membership.pk is not None:
            field = form.fields["customer"]
            field.disabled = True
            field.widget = forms.Select(
                choices=[(membership.customer_id, str(membership.customer))],
                attrs={"aria-label": str(field.label)},
            )


class SegmentMembershipInline(admin.TabularInline):
    """The customers added by hand, whatever the rules say."""

    model = SegmentMembership
    formset = SegmentMembershipFormSet
    extra = 0
    autocomplete_fields = ("customer",)
    fields = ("customer", "added_at", "added_by")
    readonly_fields = ("added_at", "added_by")
    verbose_name = "manual member"
    verbose_name_plural = "manual members"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("customer", "added_by")


@admin.register(Segment)
class SegmentAdmin(CrmImportExportMixin, GuardedChangeListMixin, admin.ModelAdmin):
    resource_classes = [SegmentResource]
    list_display = ("name", "rules_in_words", "member_total", "is_system")
    list_filter = ("is_system",)
    search_fields = ("name",)
    ordering = ("name",)
    show_full_result_count = False  # the total repeats the list's own count
    formfield_overrides = {
        models.JSONField: {"form_class": JSONTextField, "widget": admin.widgets.AdminTextareaWidget}
    }
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "rules")}),
        ("Members", {"fields": ("member_total", "member_preview")}),
        ("Pre-built", {"fields": ("is_system", "system_key"), "classes": ("collapse",)}),
    )
    readonly_fields = ("member_total", "member_preview", "is_system", "system_key")
    inlines = (SegmentMembershipInline,)
    actions = ("delete_selected", "refresh_counts", "export_members")

    def get_object(self, request, object_id, from_field=None):
        segment = super().get_object(request, object_id, from_field)
        if segment is not None:
            # The preview lists what this user may see (core.visibility).
            segment.preview_user = request.user
        return segment

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_system:
            return False
        return super().has_delete_permission(request, obj)

    def save_formset(self, request, form, formset, change):
        for membership in formset.save(commit=False):
            if membership.pk is None:
                membership.added_by = request.user
            membership.save()
        for membership in formset.deleted_objects:
            membership.delete()
        formset.save_m2m()

    @admin.display(description="Rules")
    def rules_in_words(self, segment: Segment) -> str:
        return rules_describe(segment.rules)

    @admin.display(description="Members", ordering="member_count")
    def member_total(self, segment: Segment) -> str:
        if segment.member_count is None:
            return "Not counted yet"
        if segment.evaluated_at is None:
            return f"{segment.member_count:,}"
        counted = timezone.localtime(segment.evaluated_at)
        return f"{segment.member_count:,} (counted {date_format(counted, 'SHORT_DATETIME_FORMAT')})"

    @admin.display(description="Preview")
    def member_preview(self, segment: Segment) -> str:
        """The first customers of the segment, linked to their pages, and how many more: one
        query for the page and, when it is full, one count capped at CRM_LIST_COUNT_CAP."""
        if segment.pk is None:
            return "Save the segment to see its members."
        customers = segment.customers(getattr(segment, "preview_user", None))
        shown = list(customers.order_by("last_name", "first_name", "pk")[:PREVIEW_SIZE])
        if not shown:
            return "No customers match."
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            (
                (reverse("admin:customers_customer_change", args=[customer.pk]), customer)
                for customer in shown
            ),
        )
        if len(shown) < PREVIEW_SIZE:
            return links
        cap = settings.CRM_LIST_COUNT_CAP
        total = customers.order_by()[: cap + 1].count()
        if total > cap:
            return format_html("{} and more than {} more", links, f"{cap - PREVIEW_SIZE:,}")
        if total > PREVIEW_SIZE:
            return format_html("{} and {} more", links, f"{total - PREVIEW_SIZE:,}")
        return links

    @admin.action(description=delete_selected.short_description, permissions=["delete"])
    def delete_selected(self, request, queryset):
        """Django's bulk delete, refusing pre-built segments with a message."""
        prebuilt = list(queryset.filter(is_system=True).values_list("name", flat=True))
        if prebuilt:
            for name in prebuilt:
                self.message_user(request, system_segment_message(name), messages.ERROR)
            return None
        return delete_selected(self, request, queryset)

    @admin.action(description="Re-evaluate member counts", permissions=["change"])
    def refresh_counts(self, request, queryset):
        counts = [
            f"{segment.name}: {services.segment_refresh(segment):,}"
            for segment in queryset.order_by("name")
        ]
        self.message_user(request, f"Members counted. {'; '.join(counts)}.", messages.SUCCESS)

    def has_export_permission(self, request) -> bool:
        """Exporting members shows customers: it takes seeing segments and customers."""
        return self.has_view_permission(request) and request.user.has_perm(
            "customers.view_customer"
        )

    @admin.action(description="Export members as CSV", permissions=["export"])
    def export_members(self, request, queryset):
        segments = list(queryset[:2])
        if len(segments) != 1:
            self.message_user(
                request, "Select one segment to export its members.", messages.WARNING
            )
            return None
        return members_csv_response(segments[0], request.user)


@admin.register(BulkAction)
class BulkActionAdmin(ReadOnlyAdmin):
    """The bulk actions started from segments' pages: who started what, how far it got. One that
    stopped (a worker lost, an error) can be sent to the worker again from here."""

    list_display = (
        "action",
        "segment",
        "status",
        "percent_done",
        "changed_count",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "kind")
    list_select_related = ("segment", "tag", "target_segment", "created_by")
    readonly_fields = (
        "segment",
        "kind",
        "tag",
        "target_segment",
        "customer_ids",
        "status",
        "member_count",
        "last_customer_id",
        "done_up_to",
        "changed_count",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    actions = ["run_again"]

    @admin.display(description="Action")
    def action(self, action: BulkAction) -> str:
        return action.describe()

    @admin.display(description="Done (%)")
    def percent_done(self, action: BulkAction) -> int:
        return action.percent_done

    @admin.action(description="Run the selected stopped actions again")
    def run_again(self, request, queryset):
        allowed = bulk_kinds_for(request.user)
        stopped = list(
            queryset.filter(status=BulkAction.Status.FAILED, kind__in=allowed).values_list(
                "pk", flat=True
            )
        )
        BulkAction.objects.filter(pk__in=stopped).update(status=BulkAction.Status.QUEUED, error="")
        for pk in stopped:
            bulk_action_run.delay_on_commit(pk)
        self.message_user(
            request,
            f"{len(stopped)} stopped action{'s' if len(stopped) != 1 else ''} sent to run again; "
            "the others had not stopped, or are not yours to run.",
            messages.SUCCESS,
        )
