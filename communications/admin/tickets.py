"""Admin of communications: tickets. A ticket's subject, priority and assignee are edited here;
its status moves only through ``ticket_set_status`` (the staff ticket page, or the actions
below), and its messages, Communications with purpose support, are shown read-only."""

from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from communications.models import Communication, Ticket
from communications.tickets import assignable_users, ticket_set_status
from core.admin import GuardedChangeListMixin, ReadOnlyAdminMixin
from core.forms import error_text
from core.paginators import EstimatedCountPaginator


class TicketMessageInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Communication
    fk_name = "ticket"
    verbose_name = "message"
    verbose_name_plural = "messages"
    extra = 0
    can_delete = False
    fields = ("occurred_at", "direction", "channel", "status", "staff_user", "body")
    readonly_fields = fields
    ordering = ("occurred_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("staff_user")


def _move(modeladmin, request, queryset, status: str) -> None:
    moved = 0
    for ticket in queryset:
        try:
            moved += ticket_set_status(ticket=ticket, status=status)
        except ValidationError as error:
            modeladmin.message_user(request, f"{ticket}: {error_text(error)}", messages.WARNING)
    label = Ticket.Status(status).label.lower()
    modeladmin.message_user(request, f"{moved} ticket(s) {label}.", messages.SUCCESS)


@admin.action(description="Mark resolved", permissions=["change"])
def mark_resolved(modeladmin, request, queryset):
    _move(modeladmin, request, queryset, Ticket.Status.RESOLVED)


@admin.action(description="Close", permissions=["change"])
def close(modeladmin, request, queryset):
    _move(modeladmin, request, queryset, Ticket.Status.CLOSED)


@admin.register(Ticket)
class TicketAdmin(GuardedChangeListMixin, admin.ModelAdmin):
    list_display = ("subject", "customer", "status", "priority", "assignee", "updated_at")
    list_filter = ("status", "priority", ("assignee", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("customer", "assignee")
    search_fields = ("subject", "=customer__id")
    autocomplete_fields = ("customer",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator
    fields = (
        "customer",
        "subject",
        ("status", "priority"),
        "assignee",
        "created_by",
        ("created_at", "updated_at", "closed_at"),
    )
    readonly_fields = ("status", "created_by", "created_at", "updated_at", "closed_at")
    inlines = (TicketMessageInline,)
    actions = (mark_resolved, close)

    def get_readonly_fields(self, request, obj=None):
        readonly = super().get_readonly_fields(request, obj)
        return (*readonly, "customer") if obj is not None else readonly

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "assignee":
            kwargs["queryset"] = assignable_users()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
