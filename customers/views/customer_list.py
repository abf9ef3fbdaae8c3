"""The staff customer list: search, filters, sortable columns and pages, all in the URL."""

from django.contrib.auth.mixins import PermissionRequiredMixin
from django.http import QueryDict
from django.utils import timezone
from django_filters.views import FilterView

from core.paginators import IdsFirstPaginator
from customers import selectors
from customers.filters import SORT_COLUMNS, CustomerFilter
from customers.views.mixins import ForgivingPaginationMixin

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
# A first click on a column sorts names A to Z, and numbers and dates largest or newest first.
ASCENDING_FIRST = frozenset({"name"})
DEFAULT_SORT = "name"


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
        """The current query string with some parameters replaced and the page number dropped,
        since a new order or page size starts again at the first page."""
        query = self.request.GET.copy()
        query.pop(self.page_kwarg, None)
        for name, value in changes.items():
            query[name] = value
        return f"?{query.urlencode()}"

    def requested_sort(self) -> str:
        """The sort in the URL, once the filterset has dropped unknown values; "" if none."""
        return self.filterset.data.get("sort", "").split(",")[0]

    def sort_links(self) -> dict[str, dict[str, str]]:
        current = self.requested_sort() or DEFAULT_SORT
        links = {}
        for param in SORT_COLUMNS:
            if current == param:
                state, next_sort = "ascending", f"-{param}"
            elif current == f"-{param}":
                state, next_sort = "descending", param
            else:
                state, next_sort = "", param if param in ASCENDING_FIRST else f"-{param}"
            links[param] = {"url": self.query_string(sort=next_sort), "state": state}
        return links

    def clear_url(self) -> str:
        """This page without search and filters, keeping the order and page size."""
        kept = QueryDict(mutable=True)
        for name in ("sort", "per_page"):
            if self.request.GET.get(name):
                kept[name] = self.request.GET[name]
        return f"{self.request.path}?{kept.urlencode()}" if kept else self.request.path

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        today = timezone.localdate()
        for customer in context["customers"]:
            customer.days_since_last_order = (
                (today - timezone.localdate(customer.last_order_at)).days
                if customer.last_order_at
                else None
            )
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
