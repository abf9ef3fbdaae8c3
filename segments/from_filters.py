"""The customer list's filters as segment rules, so "Save these filters as a segment" makes a
segment whose members are exactly the list's customers.

Each filter of the list (customers/filters.py) becomes one condition, all joined with "all".
The values are read by the list's own form, so they mean what they mean there. A filter with no
rule field that means the same is refused, naming the filter: the segment saved must not be a
different one from the list the user sees.
"""

from django.core.exceptions import ValidationError
from django.http import QueryDict

from customers.filters import CustomerFilter
from customers.models import Customer
from segments.rules import ALL

# The list's parameters that only order or page it: they do not choose customers.
NOT_FILTERS = frozenset({"sort", "per_page", "page"})
# Filters with no rule field of the same meaning, and why.
UNSAVABLE = {
    "q": "The search “{value}” cannot be saved in a segment: segment rules do not search "
    "names, emails or phones. Clear the search and use filters only.",
}


def condition(field: str, op: str, value) -> dict:
    return {"field": field, "op": op, "value": value}


def rules_from_list_query(querydict: QueryDict) -> dict:
    """The segment rules that match the customers the customer list shows for ``querydict``
    (its query string). Raises ValidationError, with one message per problem, for a filter
    that is not valid, one that rules cannot express (the search), or no filter at all."""
    data = QueryDict(mutable=True)
    for name in querydict:
        values = [value for value in querydict.getlist(name) if value.strip()]
        if name not in NOT_FILTERS and values:
            data.setlist(name, values)
    filterset = CustomerFilter(data, queryset=Customer.objects.none())
    form = filterset.form
    errors = [
        UNSAVABLE[name].format(value=data.get(name, "").strip())
        for name in UNSAVABLE
        if name in data
    ]
    if not form.is_valid():
        errors += [
            f"{form.fields[name].label if name in form.fields else 'Filters'}: {error}"
            for name, field_errors in form.errors.items()
            for error in field_errors
        ]
    if errors:
        raise ValidationError(errors, code="filters_not_savable")
    conditions = _conditions(form.cleaned_data)
    if not conditions:
        raise ValidationError(
            "Choose at least one filter: a segment without rules holds only the customers "
            "added to it by hand.",
            code="no_filters",
        )
    return {"match": ALL, "conditions": conditions}


def _conditions(values: dict) -> list[dict]:
    conditions = []

    def add(field, op, value):
        if value not in (None, "", [], ()):
            conditions.append(condition(field, op, value))

    add("status", "eq", values.get("status"))
    add("customer_type", "in", list(values.get("customer_type") or []))
    add("source", "eq", values.get("source"))
    add("tags", "has_any", [tag.slug for tag in values.get("tags") or []])
    has_orders = values.get("has_orders")
    if has_orders is not None:
        conditions.append(
            condition("order_count", "gt", 0) if has_orders else condition("order_count", "eq", 0)
        )
    for name, field, op in (
        ("total_spent_min", "total_spent", "gte"),
        ("total_spent_max", "total_spent", "lte"),
    ):
        if values.get(name) is not None:
            conditions.append(condition(field, op, str(values[name])))
    add("order_count", "gte", values.get("order_count_min"))
    add("order_count", "lte", values.get("order_count_max"))
    add("days_since_last_order", "gte", values.get("days_since_order_min"))
    add("days_since_last_order", "lte", values.get("days_since_order_max"))
    add("rfm_segment", "in", list(values.get("rfm_segment") or []))
    # The list takes churn risk in percent; the rule, as the score, from 0 to 1.
    for name, op in (("churn_risk_min", "gte"), ("churn_risk_max", "lte")):
        if values.get(name) is not None:
            conditions.append(condition("churn_risk", op, str(values[name] / 100)))
    for name in ("accepts_email", "accepts_sms"):
        if values.get(name) is not None:
            conditions.append(condition(name, "eq", values[name]))
    # Both take whole days on the shop's clock, as the list does: "to" includes its day.
    for name, op in (("created_from", "gte"), ("created_to", "lte")):
        if values.get(name) is not None:
            conditions.append(condition("created_at", op, values[name].isoformat()))
    return conditions
