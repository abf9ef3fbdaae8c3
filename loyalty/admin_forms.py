"""Forms of the loyalty admin; the staff pages' forms are in loyalty/forms.py. Validation of
loyalty rules stays in the services; these forms check the shape of the input and put the
services' refusals at the field they name."""

from django import forms
from django.core.exceptions import ValidationError

from core.forms import form_add_service_error
from loyalty import services
from loyalty.models import LoyaltyAccount


class LoyaltyAccountAddAdminForm(forms.ModelForm):
    """Adding an account in admin is an enrolment: what the service refuses shows at the field."""

    class Meta:
        model = LoyaltyAccount
        fields = ("customer", "program")

    def clean(self):
        cleaned = super().clean()
        customer, program = cleaned.get("customer"), cleaned.get("program")
        if customer is not None and program is not None:
            try:
                services.loyalty_account_enrol_check(customer=customer, program=program)
            except ValidationError as refusal:
                form_add_service_error(self, refusal)
        return cleaned


class PointsAdjustAdminForm(forms.Form):
    """The intermediate page of the "Adjust points" action. Zero points and the balance are
    checked by loyalty_points_adjust, per account; its errors are added back to this form."""

    points = forms.IntegerField(
        help_text="Positive adds points, negative removes them (at most the balance)."
    )
    reason = forms.CharField(
        max_length=255,
        widget=forms.TextInput(attrs={"size": 60}),
        help_text="Recorded on the ledger row with your name.",
    )
