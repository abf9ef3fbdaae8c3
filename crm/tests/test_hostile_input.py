"""Hostile query strings on every staff list page and admin changelist: each value is refused at
its field or ignored, never a server error.

The parameters are read from the pages themselves (the filterset's filters, each changelist's
list filters and date hierarchy), so a filter added later is covered without touching this file.
Every parameter meets every value where the query is built (the filterset, the changelist), and
every page is requested over HTTP with each value in all its parameters at once, so the whole
page, template included, renders it.
"""

from collections.abc import Iterable

import pytest
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.messages.storage.cookie import CookieStorage
from django.core.exceptions import SuspiciousOperation
from django.http import QueryDict
from django.test import Client, RequestFactory, override_settings
from django.urls import reverse

from core.admin import GuardedChangeList
from customers import selectors
from customers.filters import CustomerFilter
from customers.tests.factories import (
    AddressFactory,
    CustomerFactory,
    NoteFactory,
    OrderFactory,
    OrderItemFactory,
    TagFactory,
    UserFactory,
)
from loyalty.tests.factories import LoyaltyAccountFactory, RewardFactory, TierFactory

pytestmark = pytest.mark.django_db

HOSTILE = [
    # Huge and negative numbers; one past 64 bits; more digits than Python parses.
    "999999999",
    "99999999999",
    "-99999999999",
    str(2**64),
    "9" * 5000,
    # Numbers that are not numbers.
    "NaN",
    "1e400",
    # The ends of the calendar: years, dates and date-times.
    "0001",
    "9999",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01 00:00:00",
    "9999-12-31T23:59:59.999999",
    # Text: not a number, very long, NUL bytes.
    "abc",
    "x" * 5000,
    "\x00",
    "a\x00b",
]

# Zones far ahead of and far behind UTC: year 1 and year 9999 overflow when converted.
TIME_ZONES = ["Pacific/Kiritimati", "Pacific/Pago_Pago"]


@pytest.fixture
def superuser():
    return UserFactory(is_superuser=True, is_staff=True)


@pytest.fixture
def superuser_client(superuser):
    client = Client(raise_request_exception=False)
    client.force_login(superuser)
    return client


@pytest.fixture
def some_of_everything():
    """One row of each kind, so every page renders rows and every list filter has choices."""
    customer = CustomerFactory()
    OrderItemFactory(order=OrderFactory(customer=customer, status="delivered"))
    OrderFactory(customer=customer, status="cancelled")
    AddressFactory(customer=customer)
    AddressFactory(customer=customer, country="GB", kind="billing")
    NoteFactory(customer=customer, kind="follow_up", follow_up_on="2024-01-01")
    TagFactory()
    TagFactory()
    account = LoyaltyAccountFactory(customer=customer)
    TierFactory(program=account.program)
    RewardFactory(program=account.program)
    LoyaltyAccountFactory(customer=CustomerFactory())
    return {"customer": customer, "account": account}


def shown(query: dict) -> str:
    return repr({name: str(value)[:30] for name, value in query.items()})


def server_errors(client: Client, url: str, queries: Iterable[dict]) -> list[str]:
    """Every query that got a 5xx, as "url {query} -> status"."""
    failures = []
    for query in queries:
        response = client.get(url, query)
        if response.status_code >= 500:
            failures.append(f"{url} {shown(query)} -> {response.status_code}")
    return failures


def each_value_in_every_param(params: Iterable[str]) -> list[dict]:
    """One query per value, with the value in all the parameters at once (a crafted link)."""
    params = list(params)
    return [dict.fromkeys(params, value) for value in HOSTILE]


def each_value_in_each_param(params: Iterable[str]) -> list[dict]:
    return [{param: value} for param in params for value in HOSTILE]


# The customer list


def customer_filter_errors(user, queries: Iterable[dict]) -> list[str]:
    """Every query the customer list's filterset fails on, as the list view evaluates it."""
    failures = []
    for query in queries:
        data = QueryDict(mutable=True)
        data.update(query)
        try:
            filterset = CustomerFilter(data, queryset=selectors.customer_list(user))
            if filterset.is_valid():
                list(filterset.qs[:25])
                filterset.qs.count()
            filterset.active_filter_count  # noqa: B018 - read by the page
        except Exception as error:  # noqa: BLE001 - any exception is the failure reported
            failures.append(f"{shown(query)} -> {error!r}"[:300])
    return failures


@pytest.mark.parametrize("time_zone", TIME_ZONES)
def test_customer_filters_refuse_or_ignore_every_hostile_value(
    superuser, some_of_everything, time_zone
):
    queries = each_value_in_each_param(CustomerFilter.base_filters)
    multi_valued = [
        {name: ["retail", value]}
        for name in ("customer_type", "rfm_segment", "tags")
        for value in HOSTILE
    ]

    with override_settings(TIME_ZONE=time_zone):
        failures = customer_filter_errors(superuser, queries + multi_valued)

    assert not failures, "\n".join(failures)


def test_customer_list_page_never_fails_on_hostile_parameters(superuser_client, some_of_everything):
    url = reverse("customers:list")
    queries = [
        *each_value_in_every_param([*CustomerFilter.base_filters, "per_page", "page"]),
        *each_value_in_each_param(["sort", "per_page", "page", "q"]),
    ]

    with override_settings(TIME_ZONE=TIME_ZONES[0]):
        failures = server_errors(superuser_client, url, queries)

    assert not failures, "\n".join(failures)


# The other staff pages


@pytest.mark.parametrize("url_name", ["customers:follow_ups", "customers:address_queue"])
def test_staff_lists_never_fail_on_hostile_parameters(
    superuser_client, some_of_everything, url_name
):
    url = reverse(url_name)

    failures = server_errors(superuser_client, url, each_value_in_each_param(["page"]))

    assert not failures, "\n".join(failures)


def test_segment_pages_never_fail_on_hostile_parameters(superuser_client, some_of_everything):
    from segments.models import Segment

    segment = Segment.objects.order_by("pk").first()
    queries_by_url = {
        reverse("segments:list"): each_value_in_each_param(["page"]),
        reverse("segments:detail", args=[segment.slug]): [
            *each_value_in_every_param(["sort", "per_page", "page"]),
            *each_value_in_each_param(["sort", "per_page", "page"]),
        ],
        reverse("segments:create_from_filters"): [
            *each_value_in_every_param([*CustomerFilter.base_filters]),
            *each_value_in_each_param([*CustomerFilter.base_filters]),
        ],
    }

    failures = [
        failure
        for url, queries in queries_by_url.items()
        for failure in server_errors(superuser_client, url, queries)
    ]

    assert not failures, "\n".join(failures)


def test_customer_page_parts_never_fail_on_hostile_page_numbers(
    superuser_client, some_of_everything
):
    customer = some_of_everything["customer"]
    urls = [
        reverse(name, args=[customer.pk])
        for name in ("customers:detail", "customers:orders", "customers:notes")
    ]
    queries = each_value_in_every_param(["orders_page", "notes_page"])

    failures = [
        failure for url in urls for failure in server_errors(superuser_client, url, queries)
    ]

    assert not failures, "\n".join(failures)


def test_redeem_page_never_fails_on_hostile_parameters(superuser_client, some_of_everything):
    url = reverse("loyalty:redeem", args=[some_of_everything["account"].pk])

    failures = server_errors(superuser_client, url, each_value_in_each_param(["reward"]))

    assert not failures, "\n".join(failures)


# Admin changelists

ADMIN_APPS = ("customers", "loyalty")


def admin_models() -> list:
    return sorted(
        (model for model in admin.site._registry if model._meta.app_label in ADMIN_APPS),
        key=lambda model: model._meta.label,
    )


def admin_request(user, query: dict):
    request = RequestFactory().get("/", query)
    request.user = user
    request._messages = CookieStorage(request)
    return request


def changelist_params(model_admin, user) -> list[str]:
    """The query parameters a changelist understands: its list filters' (as the changelist
    builds them), the date hierarchy's, search, ordering and page."""
    changelist = model_admin.get_changelist_instance(admin_request(user, {}))
    params = [
        param for spec in changelist.filter_specs for param in spec.expected_parameters() if param
    ]
    if model_admin.date_hierarchy:
        params += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
    return [*params, "q", "o", "p"]


def changelist_errors(model_admin, user, queries: Iterable[dict]) -> list[str]:
    """Every query the changelist fails on while it builds and runs its query. A bad lookup
    (IncorrectLookupParameters) is what the admin answers with a link back (?e=1)."""
    failures = []
    for query in queries:
        try:
            changelist = model_admin.get_changelist_instance(admin_request(user, query))
            list(changelist.result_list)
        except (IncorrectLookupParameters, SuspiciousOperation):
            continue
        except Exception as error:  # noqa: BLE001 - any exception is the failure reported
            failures.append(f"{shown(query)} -> {error!r}"[:300])
    return failures


def guarded(model) -> bool:
    """Whether the model's admin uses the changelist that refuses NUL bytes in filter values and
    date-hierarchy years off the calendar (Django's own fails on both)."""
    changelist_class = admin.site._registry[model].get_changelist(RequestFactory().get("/"))
    return issubclass(changelist_class, GuardedChangeList)


@pytest.mark.parametrize("time_zone", TIME_ZONES)
@pytest.mark.parametrize(
    "model",
    admin_models(),
    ids=lambda model: model._meta.label,
)
def test_admin_changelist_never_fails_on_hostile_parameters(
    superuser, superuser_client, some_of_everything, model, time_zone
):
    assert guarded(model)
    model_admin = admin.site._registry[model]
    params = changelist_params(model_admin, superuser)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    with override_settings(TIME_ZONE=time_zone):
        failures = changelist_errors(model_admin, superuser, each_value_in_each_param(params))
        failures += server_errors(
            superuser_client, url, each_value_in_every_param([*params, "all", "_facets"])
        )

    assert not failures, "\n".join(failures)
