"""Admin of communications: campaigns. A draft is written through the services (its message
checked); "send now", "schedule" (with a form asking when) and "cancel" are actions calling
them; the counters are kept by the send and the tracking, so they are read-only."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from communications import campaigns as services
from communications.models import Campaign
from core.admin import GuardedChangeListMixin, split_inputs_name
from core.forms import error_text

Status = Campaign.Status

COUNTERS = (
    "recipients_count",
    "sent_count",
    "delivered_count",
    "opened_count",
    "clicked_count",
    "failed_count",
    "skipped_count",
    "held_out_count",
)


class CampaignScheduleAdminForm(forms.Form):
    """The intermediate page of the "Schedule" action."""

    scheduled_at = forms.SplitDateTimeField(
        label="Send at",
        widget=admin.widgets.AdminSplitDateTime,
        help_text="In the shop's time zone; a time in the future.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        split_inputs_name(self.fields["scheduled_at"], "Send at")

    def clean_scheduled_at(self):
        at = self.cleaned_data["scheduled_at"]
        if at <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        return at


@admin.register(Campaign)
class CampaignAdmin(GuardedChangeListMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "status",
        "channel",
        "segment",
        "scheduled_at",
        "started_at",
        "recipients_count",
        "sent_count",
        "failed_count",
    )
    list_filter = ("status", "channel", "purpose")
    search_fields = ("name",)
    list_select_related = ("segment",)
    autocomplete_fields = ("segment", "template")
    date_hierarchy = "created_at"
    actions = ("send_now", "schedule", "cancel")
    fieldsets = (
        (None, {"fields": ("name", "segment", "channel", "purpose", "holdout_percent")}),
        ("Message", {"fields": ("template", "subject", "body")}),
        (
            "Sending",
            {
                "fields": (
                    "status",
                    "scheduled_at",
                    "started_at",
                    "finished_at",
                    "created_by",
                    "error",
                    "page_link",
                )
            },
        ),
        ("Counts", {"fields": (COUNTERS,)}),
    )
    SENDING_FIELDS = (
        "status",
        "scheduled_at",
        "started_at",
        "finished_at",
        "created_by",
        "error",
        "page_link",
    )

    def get_readonly_fields(self, request, obj=None):
        fixed = (*self.SENDING_FIELDS, *COUNTERS)
        if obj is not None and obj.status != Status.DRAFT:
            return (*services.DRAFT_FIELDS, *fixed)
        return fixed

    def has_delete_permission(self, request, obj=None):
        # A campaign that has started is the history of what was sent; a draft may go.
        if obj is not None and obj.status != Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    @admin.display(description="Campaign page")
    def page_link(self, obj):
        if obj is None or obj.pk is None:
            return "Once saved."
        return format_html(
            '<a href="{}">Preview and send</a> · <a href="{}">Counts and recipients</a>',
            reverse("communications:campaign_preview", args=[obj.pk]),
            reverse("communications:campaign", args=[obj.pk]),
        )

    def save_model(self, request, obj, form, change):
        """Through the services: a new draft, or a draft changed; refusals come back to the
        form (``_save_refusal``) instead of a server error."""
        data = {name: getattr(obj, name) for name in services.DRAFT_FIELDS}
        if change:
            saved = services.campaign_update(campaign=obj, **data)
        else:
            saved = services.campaign_create(**data, created_by=request.user)
        obj.pk = saved.pk
        obj.refresh_from_db()
        obj._state.adding = False

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)

        class ServiceCheckedForm(form):
            def _post_clean(self):
                super()._post_clean()
                campaign = self.instance
                if campaign.status != Status.DRAFT or self.errors:
                    return
                try:
                    services._draft_check(campaign)
                except ValidationError as error:
                    for field, problems in error.message_dict.items():
                        self.add_error(field if field in self.fields else None, problems)

        return ServiceCheckedForm

    def _each(self, request, queryset, act, done: str) -> None:
        """Apply ``act`` to each selected campaign on its own; say what was done and what was
        refused, and why."""
        changed = 0
        campaigns = queryset
        if hasattr(queryset, "select_related"):
            campaigns = queryset.select_related("segment", "template")
        for campaign in campaigns:
            try:
                act(campaign)
                changed += 1
            except ValidationError as error:
                self.message_user(request, f"{campaign}: {error_text(error)}", messages.ERROR)
        if changed:
            self.message_user(request, f"{changed} campaign(s) {done}.", messages.SUCCESS)

    @admin.action(description="Send now", permissions=["change"])
    def send_now(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda campaign: services.campaign_send_now(campaign=campaign),
            "being sent",
        )

    @admin.action(description="Cancel", permissions=["change"])
    def cancel(self, request, queryset):
        self._each(
            request,
            queryset,
            lambda campaign: services.campaign_cancel(campaign=campaign),
            "cancelled",
        )

    @admin.action(description="Schedule…", permissions=["change"])
    def schedule(self, request, queryset):
        chosen = list(queryset.select_related("segment"))
        form = CampaignScheduleAdminForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            at = form.cleaned_data["scheduled_at"]
            self._each(
                request,
                chosen,
                lambda campaign: services.campaign_schedule(campaign=campaign, at=at),
                f"scheduled for {timezone.localtime(at):%d %b %Y, %H:%M}",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Schedule campaigns",
            "opts": self.model._meta,
            "form": form,
            "campaigns": chosen,
            "objects": chosen,
            "action": "schedule",
            "submit_label": "Schedule",
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/communications/campaign/schedule.html", context)
