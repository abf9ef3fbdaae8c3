"""The staff customer list: search, filters, sortable columns and pages, all in the URL."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import QueryDict
from django_filters.views import FilterView

from core.forms import form_labelled_errors
from core.paginators import IdsFirstPaginator
from customers import selectors
from customers.filters import CustomerFilter
from customers.views.mixins import ForgivingPaginationMixin
from customers.views.sorting import CustomerTableMixin


class CustomerListView(
    PermissionRequiredMixin, CustomerTableMixin, ForgivingPaginationMixin, FilterView
):
    permission_required = "customers.view_customer"
    filterset_class = CustomerFilter
    template_name = "customers/customer_list.html"
    context_object_name = "customers"
    # A capped count, and page 500 fetched through the order's index (core/paginators.py).
    paginator_class = IdsFirstPaginator

    def get_queryset(self):
        return selectors.customer_list(self.request.user)

    def get_paginator(self, queryset, per_page, **kwargs):
        return super().get_paginator(
            queryset, per_page, search=bool(self.request.GET.get("q", "").strip()), **kwargs
        )

    def requested_sort(self) -> str:
        """The sort in the URL, once the filterset has dropped unknown values; "" if none."""
        return self.filterset.data.get("sort", "").split(",")[0]

    def clear_url(self) -> str:
        """This page without search and filters, keeping the order and page size."""
        kept = QueryDict(mutable=True)
        for name in ("sort", "per_page"):
            if self.request.GET.get(name):
                kept[name] = self.request.GET[name]
        return f"{self.request.path}?{kept.urlencode()}" if kept else self.request.path

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        form = self.filterset.form
        context.update(
            {
                **self.customer_table_context(context["customers"], self.requested_sort()),
                "filter_errors": form_labelled_errors(form) if self.filterset.is_bound else [],
                "active_filter_count": self.filterset.active_filter_count,
                "has_search_or_filters": bool(
                    self.filterset.active_filter_count or self.request.GET.get("q", "").strip()
                ),
                "clear_url": self.clear_url(),
            }
        )
        return context
