"""Admin of communications: message templates, checked when saved (syntax, variables), with a
preview rendered for a chosen customer and the SMS length."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from communications.forms_templates import PreviewForm, TemplateForm
from communications.models import Channel, Template
from communications.rendering import render_message, sms_length, template_errors
from communications.tracking import unsubscribe_url
from core.visibility import customers_visible_to

# The preview's unsubscribe link: signed for a message that never exists (ids start at 1), so
# it has a real link's length (which counts in an SMS) and unsubscribes nobody.
PREVIEW_COMMUNICATION_ID = 0


@admin.register(Template)
class TemplateAdmin(admin.ModelAdmin):
    form = TemplateForm
    list_display = ("name", "channel", "purpose", "subject", "updated_at")
    list_filter = ("channel", "purpose")
    search_fields = ("name", "subject")
    readonly_fields = ("sms_length", "preview_link", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "channel", "purpose")}),
        ("Message", {"fields": ("subject", "body", "sms_length")}),
        (None, {"fields": ("preview_link", "updated_at")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # the length and the preview come once it is saved
            return (
                (None, {"fields": ("name", "channel", "purpose")}),
                ("Message", {"fields": ("subject", "body")}),
            )
        return super().get_fieldsets(request, obj)

    @admin.display(description="SMS length")
    def sms_length(self, obj):
        if obj is None or obj.pk is None or obj.channel != Channel.SMS:
            return "For SMS templates, once saved."
        return format_html(
            "{} <div class='help'>As written, before the variables are filled in; the preview "
            "shows a customer's.</div>",
            sms_length(obj.body),
        )

    @admin.display(description="Preview")
    def preview_link(self, obj):
        if obj is None or obj.pk is None:
            return "Once saved."
        url = reverse("admin:communications_template_preview", args=[obj.pk])
        return format_html('<a href="{}">Preview for a customer</a>', url)

    def get_urls(self):
        return [
            path(
                "<int:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="communications_template_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, object_id: int):
        template = get_object_or_404(Template, pk=object_id)
        if not self.has_view_permission(request, template):
            raise PermissionDenied
        form = PreviewForm(
            request.GET if request.GET else None,
            customers=customers_visible_to(request.user).order_by("pk"),
            admin_site=self.admin_site,
        )
        rendered = length = customer = None
        errors = template_errors(
            subject=template.subject, body=template.body, channel=template.channel
        )
        if form.is_bound and form.is_valid() and not errors:
            customer = form.cleaned_data["customer"]
            subject, body = render_message(
                subject=template.subject if template.channel == Channel.EMAIL else "",
                body=template.body,
                customer=customer,
                unsubscribe_url=unsubscribe_url(PREVIEW_COMMUNICATION_ID),
            )
            rendered = {"subject": subject, "body": body}
            if template.channel == Channel.SMS:
                length = sms_length(body)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": template,
            "title": f"Preview of “{template}”",
            "form": form,
            "media": self.media + form.media,
            "errors": errors,
            "rendered": rendered,
            "length": length,
            "customer": customer,
            "is_email": template.channel == Channel.EMAIL,
        }
        return TemplateResponse(request, "admin/communications/template/preview.html", context)
