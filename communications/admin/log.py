"""Admin of communications: log. Every contact, read-only (written by the services: logging,
sending, tracking, tickets), filterable by channel, direction, purpose and status; a big table,
so no full count and a capped or estimated one (core/paginators.py)."""

from django.contrib import admin

from communications.models import Communication, TrackingEvent
from communications.resources import CommunicationResource
from core.admin import ReadOnlyAdmin, ReadOnlyAdminMixin
from core.exports.admin import CrmExportMixin


class TrackingEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TrackingEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "url", "counted", "user_agent")
    readonly_fields = fields


@admin.register(Communication)
class CommunicationAdmin(CrmExportMixin, ReadOnlyAdmin):
    resource_classes = (CommunicationResource,)
    list_display = (
        "occurred_at",
        "customer",
        "channel",
        "direction",
        "purpose",
        "status",
        "subject",
        "staff_user",
        "campaign",
    )
    list_filter = ("channel", "direction", "purpose", "status", "skip_reason")
    list_select_related = ("customer", "staff_user", "campaign")
    # A customer's contacts: by their number, as the customer page links them.
    search_fields = ("=customer__id", "=provider_message_id")
    search_help_text = "A customer number, or a provider's message id."
    ordering = ("-occurred_at", "-id")
    inlines = (TrackingEventInline,)
    fields = (
        "customer",
        ("channel", "direction", "purpose"),
        ("status", "skip_reason"),
        "subject",
        "body",
        "recipient",
        "error",
        "staff_user",
        ("campaign", "template", "ticket"),
        "provider_message_id",
        "metadata",
        "occurred_at",
        ("queued_at", "sent_at", "delivered_at"),
        ("opened_at", "clicked_at", "replied_at"),
        ("bounced_at", "failed_at", "skipped_at"),
        "claimed_at",
        "created_at",
    )
    readonly_fields = tuple(
        name for entry in fields for name in (entry if isinstance(entry, tuple) else (entry,))
    )
