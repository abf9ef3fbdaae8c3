"""Admin patterns every app uses."""

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.forms.formsets import DELETION_FIELD_NAME
from django.utils.dateparse import parse_date, parse_datetime

from core.paginators import EstimatedCountPaginator


class ReadOnlyAdminMixin:
    """Rows written only by the services: listed and viewed, never added, edited or deleted by
    hand. Works for a ModelAdmin and an inline alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _date_or_none(value: str):
    """The date or date-time a filter value spells, if it spells one."""
    try:
        return parse_datetime(value) or parse_date(value)
    except ValueError:  # well formed, but no such day
        return None


class GuardedChangeList(ChangeList):
    """A changelist that treats two more kinds of bad link as a bad filter (the admin's "?e=1"
    answer) instead of a server error: a NUL character in a filter value, which PostgreSQL
    refuses, and a date-hierarchy year, month or day whose range runs off the calendar."""

    # The years whose first and last moments convert to UTC from any time zone.
    DATE_PARTS = {"year": (2, 9998), "month": (1, 12), "day": (1, 31)}

    def get_filters(self, request):
        if any("\x00" in value for values in self.filter_params.values() for value in values):
            raise IncorrectLookupParameters("A filter value holds a NUL character.")
        low, high = self.DATE_PARTS["year"]
        for name, values in self.filter_params.items():
            if name.endswith(("__gte", "__gt", "__lte", "__lt")):
                for value in values:
                    moment = _date_or_none(value)
                    if moment is not None and not low <= moment.year <= high:
                        raise IncorrectLookupParameters(f"{name}: year out of range.")
        if self.date_hierarchy:
            for part, (low, high) in self.DATE_PARTS.items():
                for value in self.filter_params.get(f"{self.date_hierarchy}__{part}", []):
                    if not (value.isdecimal() and len(value) <= 4 and low <= int(value) <= high):
                        raise IncorrectLookupParameters(f"{part.capitalize()} out of range.")
        return super().get_filters(request)


class GuardedChangeListMixin:
    """Every CRM changelist uses GuardedChangeList, and tells a big list's paginator when it
    counts a search."""

    def get_changelist(self, request, **kwargs):
        return GuardedChangeList

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if not issubclass(self.paginator, EstimatedCountPaginator):
            return super().get_paginator(
                request, queryset, per_page, orphans, allow_empty_first_page
            )
        return self.paginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            search=bool(request.GET.get(SEARCH_VAR, "").strip()),
        )


class ReadOnlyAdmin(GuardedChangeListMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """A read-only changelist for a big table: no full count on every page, the unfiltered count
    from the planner's statistics and any other count capped (core/paginators.py)."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator


class ChangedByActionsMixin:
    """The change permission runs the changelist's actions (which call services); a row itself is
    never edited in a form."""

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request)


# Inputs the admin's templates leave without a <label>: each field of a tabular inline row (its
# name is only the column header) and each part of a split date and time. These name them with
# aria-label, so a screen reader says what each one is.


def split_inputs_name(field: forms.Field, label: str) -> None:
    """Name each input of a field drawn as several (a date and a time) after its label."""
    widget = getattr(field.widget, "widget", field.widget)  # inside a related-field wrapper
    if not isinstance(widget, forms.MultiWidget):
        return
    for part in widget.widgets:
        if isinstance(part, forms.TimeInput):
            part.attrs.setdefault("aria-label", f"{label}: time")
        elif isinstance(part, forms.DateInput):
            part.attrs.setdefault("aria-label", f"{label}: date")
        else:
            part.attrs.setdefault("aria-label", label)


class LabelledInlineFormSet(forms.BaseInlineFormSet):
    """A tabular inline whose inputs are named after their column (and the delete box after
    the row it deletes)."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        for name, field in form.fields.items():
            label = str(field.label or name)
            if name == DELETION_FIELD_NAME and form.instance.pk is not None:
                label = f"{label} {form.instance}"
            if isinstance(getattr(field.widget, "widget", field.widget), forms.MultiWidget):
                split_inputs_name(field, label)
            elif not field.widget.is_hidden:
                field.widget.attrs.setdefault("aria-label", label)


# The import jobs (core/jobs/admin.py) register with the admin when it loads this module.
from core.jobs import admin as _import_jobs_admin  # noqa: E402, F401
