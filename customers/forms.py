from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Field, Fieldset, Layout, Row
from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput

from customers.models import Address, Customer, Note
from customers.services import normalize_email


class JSONTextField(forms.JSONField):
    """Django's JSON form field, refusing at the field what json.loads raises besides a syntax
    error (a number of more than 4,300 digits, nesting deeper than Python's stack) instead of
    failing the page."""

    def to_python(self, value):
        try:
            return super().to_python(value)
        except (ValueError, RecursionError):
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            ) from None

    def bound_data(self, data, initial):
        try:
            return super().bound_data(data, initial)
        except (ValueError, RecursionError):
            return InvalidJSONInput(data)


class CustomerForm(forms.ModelForm):
    """Create and edit a customer. Stats and analytics are not editable; saving goes through
    customer_create / customer_update."""

    preferred_categories = forms.CharField(
        required=False,
        help_text="Comma-separated, such as Shoes, Beauty.",
    )

    class Meta:
        model = Customer
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "phone_extension",
            "company",
            "date_of_birth",
            "gender",
            "customer_type",
            "source",
            "status",
            "external_id",
            "accepts_email",
            "accepts_sms",
            "accepts_phone",
            "accepts_push",
            "do_not_contact",
            "can_receive_offers",
            "can_receive_loyalty",
            "best_contact_time",
            "preferred_channel",
            "preferred_payment",
            "preferred_categories",
            "attributes",
        ]
        field_classes = {"attributes": JSONTextField}
        widgets = {
            "date_of_birth": forms.DateInput(attrs={"type": "date", "min": "1900-01-01"}),
            "phone_extension": forms.TextInput(attrs={"inputmode": "numeric"}),
            "attributes": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "phone": (
                "With country code (+44 …) or in the shop's own country format; "
                "an extension typed after it (“ext. 12”) is kept."
            )
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and isinstance(self.instance.preferred_categories, list):
            self.initial["preferred_categories"] = ", ".join(self.instance.preferred_categories)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Fieldset(
                "Contact",
                Row(Column("first_name"), Column("last_name")),
                Row(
                    Column("email"),
                    Column("phone", css_class="col-md-4"),
                    Column("phone_extension", css_class="col-md-2"),
                ),
                Row(Column("company"), Column("external_id")),
                Row(Column("date_of_birth"), Column("gender")),
            ),
            Fieldset(
                "Relationship",
                Row(Column("customer_type"), Column("source"), Column("status")),
            ),
            Fieldset(
                "Consent",
                Row(
                    Column("accepts_email"),
                    Column("accepts_sms"),
                    Column("accepts_phone"),
                    Column("accepts_push"),
                ),
                Row(
                    Column("do_not_contact"),
                    Column("can_receive_offers"),
                    Column("can_receive_loyalty"),
                ),
            ),
            Fieldset(
                "Preferences",
                Row(
                    Column("best_contact_time"),
                    Column("preferred_channel"),
                    Column("preferred_payment"),
                ),
                Field("preferred_categories"),
                Field("attributes"),
            ),
        )

    def clean_email(self):
        return normalize_email(self.cleaned_data.get("email", ""))

    def clean_preferred_categories(self):
        raw = self.cleaned_data.get("preferred_categories") or ""
        return [part.strip() for part in raw.split(",") if part.strip()]


class NoteForm(forms.ModelForm):
    """The note's length limit (settings.CRM_NOTE_MAX_LENGTH) is checked by the model, with a
    message saying it. The text box has no maxlength: a browser would cut a pasted text short
    without a word."""

    class Meta:
        model = Note
        fields = ["body", "kind", "priority", "follow_up_on", "pinned"]
        widgets = {
            "body": forms.Textarea(attrs={"rows": 2, "placeholder": "What happened, what to do"}),
            "follow_up_on": forms.DateInput(attrs={"type": "date"}),
        }
        labels = {"body": "Note", "follow_up_on": "Follow up on"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("body"),
            Row(
                Column("kind"),
                Column("priority"),
                Column("follow_up_on"),
                Column("pinned", css_class="pt-md-4"),
            ),
        )


class TagAddForm(forms.Form):
    name = forms.CharField(
        label="Tag", max_length=50, widget=forms.TextInput(attrs={"list": "tag-names"})
    )


class AddressVerifyForm(forms.ModelForm):
    """Verify one address, optionally with notes and coordinates."""

    class Meta:
        model = Address
        fields = ["verification_notes", "latitude", "longitude"]
        widgets = {"verification_notes": forms.Textarea(attrs={"rows": 2})}
        labels = {"verification_notes": "Notes"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.layout = Layout(
            Field("verification_notes"),
            Row(Column("latitude"), Column("longitude")),
        )


class AddressRejectForm(forms.Form):
    verification_notes = forms.CharField(
        label="Why is it rejected?", widget=forms.Textarea(attrs={"rows": 2})
    )
