"""Which customers, and which of their orders, notes and addresses, a staff user may see.

Every staff page, panel and card gets its base queryset here, never from ``Model.objects``, so
the rule lives in one place. Visibility says *which customers*; whether a user may view a kind of
record at all (orders, notes, addresses) stays with the permission each view checks. Today every
active staff user sees every customer; the rules of a chain (a store's staff see their store's
customers) go into ``customer_filter`` and reach every page at once.

core sits below every app, so the models are looked up by name when a function runs.
"""

from django.apps import apps
from django.db.models import Q, QuerySet

NOTHING = Q(pk__in=[])  # a filter Django answers without asking the database


def customer_filter(user, via: str = "") -> Q:
    """The filter that keeps the rows belonging to customers ``user`` may see. ``via`` is the
    path from the filtered model to its customer ("customer" for an order, "" for a customer)."""
    if not (user.is_authenticated and user.is_active):
        return NOTHING
    return Q()  # every customer: no per-store rule yet


def rows_visible_to(user, queryset: QuerySet, via: str = "customer") -> QuerySet:
    """``queryset`` (of any app's model) cut to the rows of the customers ``user`` may see;
    ``via`` is the path from its model to the customer."""
    return queryset.filter(customer_filter(user, via))


def _rows_visible_to(user, model_name: str) -> QuerySet:
    return rows_visible_to(user, apps.get_model("customers", model_name).objects.all())


def customers_visible_to(user) -> QuerySet:
    """The customers ``user`` may see."""
    return apps.get_model("customers", "Customer").objects.filter(customer_filter(user))


def orders_visible_to(user) -> QuerySet:
    """The orders of the customers ``user`` may see."""
    return _rows_visible_to(user, "Order")


def notes_visible_to(user) -> QuerySet:
    """The notes on the customers ``user`` may see."""
    return _rows_visible_to(user, "Note")


def addresses_visible_to(user) -> QuerySet:
    """The addresses of the customers ``user`` may see."""
    return _rows_visible_to(user, "Address")
