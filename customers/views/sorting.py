"""The sortable customer table's links and rows, shared by every page that shows it (the
customer list, a segment's members): the sort in the URL, one click per column."""

from collections.abc import Iterable

from django.http import HttpRequest
from django.utils import timezone

from customers.filters import SORT_COLUMNS

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
