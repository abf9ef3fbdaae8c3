"""Filters for the staff customer list: every value lives in the query string."""

import re
from datetime import date, timedelta

import django_filters
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Div, Layout, Row
from django import forms
from django.core.validators import EMPTY_VALUES, MaxValueValidator, MinValueValidator
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone
from django_filters.widgets import BooleanWidget

from customers.models import Customer, CustomerScore, CustomerTag, Tag
from customers.sales import start_of_day

# More words than this are ignored, so one search box cannot build an unbounded query.
SEARCH_MAX_WORDS = 8
PHONE_MIN_DIGITS = 3
NON_DIGITS = re.compile(r"\D")
LETTERS = re.compile(r"[^\W\d_]")
# The bounds of the numbers and dates a filter takes: past them a value is refused at its field
# (date arithmetic beyond them overflows, and no customer lies beyond them anyway).
DAYS_SINCE_ORDER_MAX = 36_500
ORDER_COUNT_MAX = 2**31 - 1
MONEY_MAX_DIGITS = 14
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)
DATE_RANGE_MESSAGE = f"Enter a date from {EARLIEST_DATE:%Y-%m-%d} to {LATEST_DATE:%Y-%m-%d}."

# Sort parameter -> columns. The filter adds id last, so equal values keep a stable order.
SORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "name": ("last_name", "first_name"),
    "total_spent": ("total_spent",),
    "order_count": ("order_count",),
    "last_order_at": ("last_order_at",),
    "created_at": ("created_at",),
    "churn_risk": ("score__churn_risk",),
    "predicted_clv": ("score__predicted_clv",),
}
# Sorting by a score lists the customers the last nightly run scored, in the order of the score
# copy's index (customers.models.CustomerScore); the others have no such score.
SCORE_SORTS = frozenset({"churn_risk", "predicted_clv"})
SORT_CHOICES = [
    ("name", "Name, A to Z"),
    ("-name", "Name, Z to A"),
    ("-total_spent", "Total spent, highest first"),
    ("total_spent", "Total spent, lowest first"),
    ("-order_count", "Most orders first"),
    ("order_count", "Fewest orders first"),
    ("-last_order_at", "Last order, newest first"),
    ("last_order_at", "Last order, oldest first"),
    ("-churn_risk", "Churn risk, highest first"),
    ("churn_risk", "Churn risk, lowest first"),
    ("-predicted_clv", "Predicted value, highest first"),
    ("predicted_clv", "Predicted value, lowest first"),
    ("-created_at", "Newest customers first"),
    ("created_at", "Oldest customers first"),
]
# Customers without orders sort after the rest in both directions.
NULLABLE_SORT_COLUMNS = frozenset({"last_order_at"})


class AnyYesNoWidget(BooleanWidget):
    """true / false / blank in the URL, shown as Yes / No / Any."""

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.choices = [("", "Any"), ("true", "Yes"), ("false", "No")]


class IntegerFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField


class ChurnPercentFilter(django_filters.NumberFilter):
    """A churn risk typed in percent (0 to 100), compared with the stored score (0 to 1)."""

    def filter(self, qs: QuerySet, value):
        if value in EMPTY_VALUES:
            return qs
        return super().filter(qs, value / 100)


class BoundedDateFilter(django_filters.DateFilter):
    """A date between EARLIEST_DATE and LATEST_DATE; any other is refused at the field."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "validators",
            [
                MinValueValidator(EARLIEST_DATE, message=DATE_RANGE_MESSAGE),
                MaxValueValidator(LATEST_DATE, message=DATE_RANGE_MESSAGE),
            ],
        )
        super().__init__(*args, **kwargs)


class CustomerOrderingFilter(django_filters.OrderingFilter):
    """One sort column at a time, nullable columns last either way, id as the tie-breaker."""

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if not value:
            return qs
        param = value[0]
        descending = param.startswith("-")
        if param.removeprefix("-") in SCORE_SORTS:
            qs = qs.filter(score__isnull=False)
        columns = (*SORT_COLUMNS[param.removeprefix("-")], "id")
        ordering = []
        for column in columns:
            if column in NULLABLE_SORT_COLUMNS:
                expression = F(column)
                ordering.append(
                    expression.desc(nulls_last=True)
                    if descending
                    else expression.asc(nulls_last=True)
                )
            else:
                ordering.append(f"-{column}" if descending else column)
        return qs.order_by(*ordering)

    @classmethod
    def valid_values(cls) -> set[str]:
        return {*SORT_COLUMNS, *(f"-{param}" for param in SORT_COLUMNS)}


def number_input(*, step: str, minimum: str | None = "0", maximum: str | None = None):
    attrs = {"step": step, "inputmode": "decimal" if "." in step else "numeric"}
    if minimum is not None:
        attrs["min"] = minimum
    if maximum is not None:
        attrs["max"] = maximum
    return forms.NumberInput(attrs=attrs)


def pair(first: str, second: str) -> Row:
    """Two fields side by side, also in the narrow filter panel."""
    return Row(Column(first, css_class="col-6"), Column(second, css_class="col-6"))


def date_input():
    return forms.DateInput(
        format="%Y-%m-%d",
        attrs={
            "type": "date",
            "min": f"{EARLIEST_DATE:%Y-%m-%d}",
            "max": f"{LATEST_DATE:%Y-%m-%d}",
        },
    )


class CustomerFilterForm(forms.Form):
    # (lower bound, upper bound): an upper bound below the lower one is reported on the upper.
    RANGES = (
        ("total_spent_min", "total_spent_max"),
        ("order_count_min", "order_count_max"),
        ("days_since_order_min", "days_since_order_max"),
        ("churn_risk_min", "churn_risk_max"),
        ("created_from", "created_to"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["q"].widget.attrs.update(
            {
                "class": "form-control",
                "placeholder": "Name, email, phone or external ID",
                "aria-label": "Search customers",
            }
        )
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            "sort",
            "status",
            "customer_type",
            "source",
            Div("tags", css_class="overflow-auto", style="max-height: 12rem"),
            "has_orders",
            pair("total_spent_min", "total_spent_max"),
            pair("order_count_min", "order_count_max"),
            pair("days_since_order_min", "days_since_order_max"),
            "rfm_segment",
            pair("churn_risk_min", "churn_risk_max"),
            pair("accepts_email", "accepts_sms"),
            pair("created_from", "created_to"),
        )

    def clean(self):
        cleaned_data = super().clean()
        for low, high in self.RANGES:
            low_value, high_value = cleaned_data.get(low), cleaned_data.get(high)
            if low_value is not None and high_value is not None and high_value < low_value:
                self.add_error(
                    high, f"Must not be less than “{self.fields[low].label}” ({low_value})."
                )
        return cleaned_data


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(
        label="Search", method="filter_search", max_length=200, widget=forms.SearchInput
    )
    status = django_filters.ChoiceFilter(choices=Customer.Status.choices, empty_label="Any")
    customer_type = django_filters.MultipleChoiceFilter(
        label="Type",
        choices=Customer.CustomerType.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    source = django_filters.ChoiceFilter(choices=Customer.Source.choices, empty_label="Any")
    tags = django_filters.ModelMultipleChoiceFilter(
        label="Tags (any of)",
        queryset=Tag.objects.order_by("name"),
        to_field_name="slug",
        method="filter_tags",
        widget=forms.CheckboxSelectMultiple,
    )
    has_orders = django_filters.BooleanFilter(
        label="Has orders", method="filter_has_orders", widget=AnyYesNoWidget
    )
    total_spent_min = django_filters.NumberFilter(
        field_name="total_spent",
        lookup_expr="gte",
        label="Min. spent",
        min_value=0,
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=2,
        widget=number_input(step="0.01"),
    )
    total_spent_max = django_filters.NumberFilter(
        field_name="total_spent",
        lookup_expr="lte",
        label="Max. spent",
        min_value=0,
        max_digits=MONEY_MAX_DIGITS,
        decimal_places=2,
        widget=number_input(step="0.01"),
    )
    order_count_min = IntegerFilter(
        field_name="order_count",
        lookup_expr="gte",
        label="Min. orders",
        min_value=0,
        max_value=ORDER_COUNT_MAX,
        widget=number_input(step="1"),
    )
    order_count_max = IntegerFilter(
        field_name="order_count",
        lookup_expr="lte",
        label="Max. orders",
        min_value=0,
        max_value=ORDER_COUNT_MAX,
        widget=number_input(step="1"),
    )
    days_since_order_min = IntegerFilter(
        label="Min. days since last order",
        method="filter_days_since_order_min",
        min_value=0,
        max_value=DAYS_SINCE_ORDER_MAX,
        widget=number_input(step="1"),
    )
    days_since_order_max = IntegerFilter(
        label="Max. days since last order",
        method="filter_days_since_order_max",
        min_value=0,
        max_value=DAYS_SINCE_ORDER_MAX,
        widget=number_input(step="1"),
    )
    rfm_segment = django_filters.MultipleChoiceFilter(
        label="RFM segment",
        method="filter_rfm_segment",
        choices=Customer.RfmSegment.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    # In percent, as the pages show churn risk; the score copy holds it as 0 to 1.
    churn_risk_min = ChurnPercentFilter(
        field_name="score__churn_risk",
        lookup_expr="gte",
        label="Min. churn risk (%)",
        min_value=0,
        max_value=100,
        widget=number_input(step="5", maximum="100"),
    )
    churn_risk_max = ChurnPercentFilter(
        field_name="score__churn_risk",
        lookup_expr="lte",
        label="Max. churn risk (%)",
        min_value=0,
        max_value=100,
        widget=number_input(step="5", maximum="100"),
    )
    accepts_email = django_filters.BooleanFilter(label="Accepts email", widget=AnyYesNoWidget)
    accepts_sms = django_filters.BooleanFilter(label="Accepts SMS", widget=AnyYesNoWidget)
    created_from = BoundedDateFilter(
        label="Created from", method="filter_created_from", widget=date_input()
    )
    created_to = BoundedDateFilter(
        label="Created to", method="filter_created_to", widget=date_input()
    )
    # Also offered as a select in the panel: on a phone some sortable columns are hidden.
    sort = CustomerOrderingFilter(
        label="Sort by",
        fields=tuple((param, param) for param in SORT_COLUMNS),
        choices=SORT_CHOICES,
        empty_label=None,
    )

    class Meta:
        model = Customer
        fields: list[str] = []
        form = CustomerFilterForm

    def __init__(self, data=None, *args, **kwargs):
        # A stale or mistyped sort falls back to the default order instead of emptying the list.
        if data is not None and "sort" in data:
            sort_values = data.get("sort", "").split(",")
            if not set(sort_values) <= CustomerOrderingFilter.valid_values():
                data = data.copy()
                data.pop("sort")
        super().__init__(data, *args, **kwargs)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        """Every word must match a name, the email or the external ID; digits also match the
        phone. A search without a letter is a number: "(415) 555-01" finds +14155550134 by its
        digits, or an email or external ID that contains it as typed."""
        words = value.split()[:SEARCH_MAX_WORDS]
        if not words:
            return queryset
        all_digits = NON_DIGITS.sub("", value)
        if not LETTERS.search(value) and len(all_digits) >= PHONE_MIN_DIGITS:
            # One term, not words: each short group of digits ("114") would match thousands
            # of phones, all read from the table to check the other groups.
            term = " ".join(words)
            matches = (
                Q(phone__icontains=all_digits)
                | Q(email__icontains=term)
                | Q(external_id__icontains=term)
            )
        else:
            matches = Q()
            for word in words:
                any_column = (
                    Q(first_name__icontains=word)
                    | Q(last_name__icontains=word)
                    | Q(email__icontains=word)
                    | Q(external_id__icontains=word)
                )
                digits = NON_DIGITS.sub("", word)
                if len(digits) >= PHONE_MIN_DIGITS:
                    any_column |= Q(phone__icontains=digits)
                matches &= any_column
        # Matches are found through the trigram indexes, then sorted by name: ordered by the
        # name index itself, PostgreSQL would walk it through every customer until a page of
        # matches turned up (1.7 s for a common last name at a million customers). A sort the
        # user picks replaces this order.
        return queryset.filter(matches).order_by(Lower("last_name"), Lower("first_name"), "id")

    def filter_rfm_segment(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        """Scored segments through the score copy's segment index; "Prospect" (no purchase,
        so no row there) from the customer's own column."""
        if not value:
            return queryset
        segments = [segment for segment in value if segment != Customer.RfmSegment.PROSPECT]
        if len(segments) == len(value):
            return queryset.filter(score__rfm_segment__in=segments)
        prospects = Q(rfm_segment=Customer.RfmSegment.PROSPECT)
        if not segments:
            return queryset.filter(prospects)
        scored = CustomerScore.objects.filter(rfm_segment__in=segments).values("customer_id")
        return queryset.filter(prospects | Q(pk__in=scored))

    def filter_tags(self, queryset: QuerySet, name: str, value) -> QuerySet:
        if not value:
            return queryset
        tagged = CustomerTag.objects.filter(
            customer=OuterRef("pk"), tag__in=[tag.pk for tag in value]
        )
        return queryset.filter(Exists(tagged))

    def filter_has_orders(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        return queryset.filter(order_count__gt=0) if value else queryset.filter(order_count=0)

    def filter_days_since_order_min(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        # At least N calendar days ago: the order's day is on or before today - N.
        last_day = timezone.localdate() - timedelta(days=value)
        return queryset.filter(last_order_at__lt=start_of_day(last_day + timedelta(days=1)))

    def filter_days_since_order_max(self, queryset: QuerySet, name: str, value: int) -> QuerySet:
        first_day = timezone.localdate() - timedelta(days=value)
        return queryset.filter(last_order_at__gte=start_of_day(first_day))

    def filter_created_from(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__gte=start_of_day(value))

    def filter_created_to(self, queryset: QuerySet, name: str, value: date) -> QuerySet:
        return queryset.filter(created_at__lt=start_of_day(value + timedelta(days=1)))

    @property
    def score_sort(self) -> bool:
        """Whether the list is sorted by a score, and so lists scored customers only."""
        sort = self.data.get("sort", "") if self.is_bound else ""
        return sort.split(",")[0].removeprefix("-") in SCORE_SORTS

    @property
    def active_filter_count(self) -> int:
        """How many filters in the side panel hold a value (search and sort not counted)."""
        names = set(self.filters) - {"q", "sort"}
        return sum(1 for name in names if any(self.data.getlist(name, [])))
