"""Forms and formsets of the customers admin; the staff pages' forms are in customers/forms.py.
Inputs the admin's templates leave without a label are named through core.admin."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from core.admin import LabelledInlineFormSet, split_inputs_name
from customers.models import Order


class OrderItemFormSet(LabelledInlineFormSet):
    """The order's item lines as this save leaves them (added, changed or deleted ones counted)
    must explain its total: Order.check_total_against_items, reported as the total's error."""

    def clean(self):
        super().clean()
        order = self.instance
        amounts = [getattr(order, name) for name in ("total", *Order.AMOUNT_FIELDS)]
        if any(self.errors) or not all(isinstance(amount, Decimal) for amount in amounts):
            return
        lines = [
            form.cleaned_data
            for form in self.forms
            if form.cleaned_data and not self._should_delete_form(form)
        ]
        if not lines:
            return  # an order without item lines is not checked against them
        try:
            order.check_total_against_items(sum(line["line_total"] for line in lines))
        except ValidationError as error:
            raise ValidationError([f"Total: {message}" for message in error.messages]) from error


def order_status_choices(current: str | None) -> list[tuple[str, str]]:
    """The statuses the status field offers: for an order that exists, its status and those it
    may move to (Order.TRANSITIONS); for a new order, every status (order_create takes any)."""
    if current is None:
        return list(Order.Status.choices)
    allowed = {current, *Order.TRANSITIONS.get(current, ())}
    return [(value, label) for value, label in Order.Status.choices if value in allowed]


class OrderStatusField(forms.ChoiceField):
    """Offers the moves allowed from the status the page was loaded with, and lets any status
    through to the form's check: a move refused meanwhile is reported in words, not as "not one
    of the available choices"."""

    def valid_value(self, value) -> bool:
        return value in Order.Status.values


class OrderAdminForm(forms.ModelForm):
    """Offers the status moves order_set_status allows, and refuses any other at the status
    field."""

    status = OrderStatusField(
        label="Status",
        choices=Order.Status.choices,
        initial=Order._meta.get_field("status").default,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        current = self.instance.status if self.instance.pk else None
        self.fields["status"].choices = order_status_choices(current)
        for name, field in self.fields.items():
            split_inputs_name(field, str(field.label or name))

    def clean(self):
        cleaned = super().clean()
        status = cleaned.get("status")
        if self.instance.pk and status:
            previous = Order.objects.values_list("status", flat=True).get(pk=self.instance.pk)
            try:
                Order.check_transition(previous, status)
            except ValidationError as error:
                self.add_error(None, error)  # the error names status
        return cleaned
