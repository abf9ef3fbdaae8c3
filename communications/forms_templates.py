"""Forms of message templates: the template's own form (the admin's) and the preview's choice of
a customer."""

from django import forms
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError

from communications.models import Template, Ticket
from communications.rendering import ALLOWED_FILTERS, ALLOWED_TAGS, VARIABLE_NAMES

VARIABLES_HELP = (
    "Django template syntax. Variables: "
    + ", ".join(f"{{{{ {name} }}}}" for name in VARIABLE_NAMES)
    + ". Tags: "
    + ", ".join(ALLOWED_TAGS)
    + ". Filters: "
    + ", ".join(sorted((*ALLOWED_FILTERS, "intcomma")))
    + "."
)


class TemplateForm(forms.ModelForm):
    """The fields of a template; its checks (syntax, variables, an email's subject) are the
    model's clean(), shown on the field they concern."""

    class Meta:
        model = Template
        fields = ("name", "channel", "purpose", "subject", "body")
        widgets = {
            "body": forms.Textarea(attrs={"rows": 14, "cols": 80, "class": "vLargeTextField"}),
        }
        help_texts = {
            "subject": "Email only; the same syntax as the body.",
            "body": VARIABLES_HELP,
        }


class PreviewForm(forms.Form):
    """The customer a template is previewed for: found by name or email (autocomplete), or by
    id. ``customers`` is what the user may see (core.visibility)."""

    customer = forms.ModelChoiceField(queryset=None, required=False, label="Customer")
    customer_id = forms.IntegerField(required=False, min_value=1, label="or customer id")

    def __init__(self, *args, customers, admin_site, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["customer"].widget = AutocompleteSelect(
            Ticket._meta.get_field("customer"), admin_site
        )
        # Set after the widget, which takes its choices from the queryset.
        self.fields["customer"].queryset = customers
        self.customers = customers

    def clean(self):
        data = super().clean()
        if data.get("customer") is None and data.get("customer_id"):
            customer = self.customers.filter(pk=data["customer_id"]).first()
            if customer is None:
                raise ValidationError({"customer_id": "No customer you may see has this id."})
            data["customer"] = customer
        if data.get("customer") is None and not self.errors:
            raise ValidationError({"customer": "Choose a customer, or give a customer's id."})
        return data
