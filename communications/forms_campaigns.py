"""Forms of the campaign pages: a draft, and the time to send it."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Fieldset, Layout, Row
from django import forms
from django.utils import timezone

from communications.models import SENDING_CHANNELS, Campaign, Template
from segments.models import Segment


class CampaignForm(forms.ModelForm):
    """A draft's fields; the service checks the message (syntax, variables, the template's
    channel) and its refusals are put on these fields."""

    class Meta:
        model = Campaign
        fields = (
            "name",
            "segment",
            "channel",
            "purpose",
            "template",
            "subject",
            "body",
            "holdout_percent",
        )
        widgets = {"body": forms.Textarea(attrs={"rows": 8})}
        help_texts = {
            "template": "Or leave it empty and write the subject and message below.",
            "body": "Django template syntax: {{ customer.first_name }}, {{ customer.last_name }}, "
            "{{ loyalty.balance }}, {{ loyalty.tier }}, {{ shop_name }}, {{ unsubscribe_url }}.",
            "subject": "Email only.",
        }
        labels = {"body": "Message"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].queryset = Segment.objects.order_by("name")
        self.fields["template"].queryset = Template.objects.order_by("name")
        self.fields["channel"].choices = [(c.value, c.label) for c in SENDING_CHANNELS]
        self.fields["holdout_percent"].help_text = (
            "A share (0 to 50%) of those who may receive it, drawn at random when the send "
            "starts and not sent it, to measure what the campaign earned."
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("name"),
            Row(
                Column("segment", css_class="col-md-6"),
                Column("channel", css_class="col-md-3"),
                Column("purpose", css_class="col-md-3"),
            ),
            Fieldset("Message", "template", "subject", "body"),
            Field("holdout_percent"),
        )


class ScheduleForm(forms.Form):
    scheduled_at = forms.DateTimeField(
        label="Send at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        help_text="In the shop's time zone.",
    )

    def clean_scheduled_at(self):
        at = self.cleaned_data["scheduled_at"]
        if at <= timezone.now():
            raise forms.ValidationError("Choose a time in the future.")
        return at
