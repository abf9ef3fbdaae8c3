"""The sortable customer table's links, rows and page sizes, shared by every page that shows it
(the customer list, a segment's members): the sort and the page size in the URL."""

from collections.abc import Iterable

from django.http import HttpRequest
from django.utils import timezone

from customers.filters import SORT_COLUMNS

PAGE_SIZES = (25, 50, 100)
DEFAULT_PAGE_SIZE = PAGE_SIZES[0]
# A first click on a column sorts names A to Z, and numbers and dates largest or newest first.
ASCENDING_FIRST = frozenset({"name"})
DEFAULT_SORT = "name"


def query_string(request: HttpRequest, page_kwarg: str = "page", **changes) -> str:
    """The current query string with some parameters replaced and the page number dropped,
    since a new order or page size starts again at the first page."""
    query = request.GET.copy()
    query.pop(page_kwarg, None)
    for name, value in changes.items():
        query[name] = value
    return f"?{query.urlencode()}"


def sort_links(request: HttpRequest, current: str, page_kwarg: str = "page") -> dict:
    """For each sortable column, the link that sorts by it (or reverses it) and its state
    ("ascending", "descending" or ""), as customers/partials/sort_header.html reads them.
    ``current`` is the sort in force ("" for the default)."""
    current = current or DEFAULT_SORT
    links = {}
    for param in SORT_COLUMNS:
        if current == param:
            state, next_sort = "ascending", f"-{param}"
        elif current == f"-{param}":
            state, next_sort = "descending", param
        else:
            state, next_sort = "", param if param in ASCENDING_FIRST else f"-{param}"
        links[param] = {"url": query_string(request, page_kwarg, sort=next_sort), "state": state}
    return links


def customer_rows_prepare(customers: Iterable) -> None:
    """Set ``days_since_last_order`` (calendar days in the shop's time zone, None without an
    order) on each customer of a page, as the table shows it."""
    today = timezone.localdate()
    for customer in customers:
        customer.days_since_last_order = (
            (today - timezone.localdate(customer.last_order_at)).days
            if customer.last_order_at
            else None
        )


class CustomerTableMixin:
    """For a list view that shows the customer table: its page size from ``per_page`` and the
    table's context (rows prepared, sort links, page-size links)."""

    def get_paginate_by(self, queryset) -> int:
        try:
            page_size = int(self.request.GET.get("per_page", ""))
        except ValueError:
            return DEFAULT_PAGE_SIZE
        return page_size if page_size in PAGE_SIZES else DEFAULT_PAGE_SIZE

    def customer_table_context(self, customers, requested_sort: str) -> dict:
        customer_rows_prepare(customers)
        return {
            "sort_links": sort_links(self.request, requested_sort, self.page_kwarg),
            "page_size": self.get_paginate_by(None),
            "default_page_size": DEFAULT_PAGE_SIZE,
            "page_size_links": [
                (size, query_string(self.request, self.page_kwarg, per_page=size))
                for size in PAGE_SIZES
            ],
        }
