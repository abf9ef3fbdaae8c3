"""The staff customer list: search, filters, sortable columns and pages, all in the URL."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import QueryDict
from django_filters.views import FilterView

from core.paginators import IdsFirstPaginator
from customers import selectors
from customers.filters import CustomerFilter
from customers.views import sorting
from customers.views.mixins import ForgivingPaginationMixin

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]


class CustomerListView(PermissionRequiredMixin, ForgivingPaginationMixin, FilterView):
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

    def get_paginate_by(self, queryset) -> int:
        try:
            page_size = int(self.request.GET.get("per_page", ""))
        except ValueError:
            return DEFAULT_PAGE_SIZE
        return page_size if page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE

    def query_string(self, **changes) -> str:
        return sorting.query_string(self.request, self.page_kwarg, **changes)

    def requested_sort(self) -> str:
        """The sort in the URL, once the filterset has dropped unknown values; "" if none."""
        return self.filterset.data.get("sort", "").split(",")[0]

    def sort_links(self) -> dict[str, dict[str, str]]:
        return sorting.sort_links(self.request, self.requested_sort(), self.page_kwarg)

    def clear_url(self) -> str:
        """This page without search and filters, keeping the order and page size."""
        kept = QueryDict(mutable=True)
        for name in ("sort", "per_page"):
            if self.request.GET.get(name):
                kept[name] = self.request.GET[name]
        return f"{self.request.path}?{kept.urlencode()}" if kept else self.request.path

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sorting.customer_rows_prepare(context["customers"])
        page_size = self.get_paginate_by(None)
        form = self.filterset.form
        context.update(
            {
                "filter_errors": [
                    (form.fields[name].label if name in form.fields else "", error)
                    for name, errors in form.errors.items()
                    for error in errors
                ]
                if self.filterset.is_bound
                else [],
                "active_filter_count": self.filterset.active_filter_count,
                "has_search_or_filters": bool(
                    self.filterset.active_filter_count or self.request.GET.get("q", "").strip()
                ),
                "sort_links": self.sort_links(),
                "page_size": page_size,
                "default_page_size": DEFAULT_PAGE_SIZE,
                "page_size_links": [
                    (size, self.query_string(per_page=size)) for size in PAGE_SIZES
                ],
                "clear_url": self.clear_url(),
            }
        )
        return context
