"""Filters of the log page and the ticket list: every value lives in the query string."""

from datetime import date, timedelta

import django_filters
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from communications.models import Channel, Communication, Direction, Purpose, Ticket
from communications.tickets import assignable_users
from customers.filters import BoundedDateFilter, date_input
from customers.sales import start_of_day

# The largest id a filter takes (a bigint): past it a value is refused at its field.
ID_MAX = 2**63 - 1


def staff_users() -> QuerySet:
    """Everyone who can log contacts or has: active staff, by username."""
    return get_user_model().objects.filter(is_active=True, is_staff=True).order_by("username")


class CommunicationFilterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            "channel",
            "direction",
            "purpose",
            "status",
            # One above the other: side by side, the narrow panel cuts a date input's text.
            "date_from",
            "date_to",
            "staff_user",
            "customer",
        )

    def clean(self):
        cleaned_data = super().clean()
        start, end = cleaned_data.get("date_from"), cleaned_data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", f"Must not be before “From” ({start:%Y-%m-%d}).")
        return cleaned_data


class CommunicationFilter(django_filters.FilterSet):
    channel = django_filters.ChoiceFilter(choices=Channel.choices, empty_label="Any")
    direction = django_filters.ChoiceFilter(choices=Direction.choices, empty_label="Any")
    purpose = django_filters.ChoiceFilter(choices=Purpose.choices, empty_label="Any")
    status = django_filters.ChoiceFilter(choices=Communication.Status.choices, empty_label="Any")
    date_from = BoundedDateFilter(label="From", method="filter_date_from", widget=date_input())
    date_to = BoundedDateFilter(label="To", method="filter_date_to", widget=date_input())
    staff_user = django_filters.ModelChoiceFilter(
        label="Staff member", queryset=staff_users(), empty_label="Anyone"
    )
    customer = django_filters.NumberFilter(
        label="Customer number",
        field_name="customer_id",
        min_value=1,
        max_value=ID_MAX,
        widget=forms.NumberInput(attrs={"min": "1", "step": "1", "inputmode": "numeric"}),
    )

    class Meta:
        model = Communication
        fields: list[str] = []
        form = CommunicationFilterForm

    def filter_date_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(occurred_at__gte=start_of_day(value))

    def filter_date_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(occurred_at__lt=start_of_day(value + timedelta(days=1)))


class TicketFilterForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout("mine", "status", "priority", "assignee", "customer")


class TicketFilter(django_filters.FilterSet):
    mine = django_filters.BooleanFilter(
        label="My tickets only", method="filter_mine", widget=forms.CheckboxInput
    )
    status = django_filters.ChoiceFilter(
        choices=[("unresolved", "Open or pending"), *Ticket.Status.choices],
        empty_label="Any",
        method="filter_status",
    )
    priority = django_filters.ChoiceFilter(choices=Ticket.Priority.choices, empty_label="Any")
    assignee = django_filters.ModelChoiceFilter(
        queryset=assignable_users(), empty_label="Anyone", null_label="Nobody"
    )
    customer = django_filters.NumberFilter(
        label="Customer number",
        field_name="customer_id",
        min_value=1,
        max_value=ID_MAX,
        widget=forms.NumberInput(attrs={"min": "1", "step": "1", "inputmode": "numeric"}),
    )

    class Meta:
        model = Ticket
        fields: list[str] = []
        form = TicketFilterForm

    def filter_mine(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(assignee=self.request.user) if value else queryset

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if value == "unresolved":
            return queryset.filter(status__in=(Ticket.Status.OPEN, Ticket.Status.PENDING))
        return queryset.filter(status=value)
