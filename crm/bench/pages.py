"""The `pages` section of `make bench`: the staff pages, the dashboard, the admin changelists and
one order delivery and return, timed through the full middleware stack with DEBUG off.

Each page is requested once to warm up, then ``REQUESTS`` times; the figure is the median, with
the number of queries of one more request. The budgets are those of DESIGN.md section 6, judged
at the reference size.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.bench.dataset import DatasetSpec

REQUESTS = 5
LIST_MS, DETAIL_MS, DASHBOARD_MS = 100, 150, 150
# Queries per page (DESIGN.md section 6): lists and changelists, the customer page; the
# dashboard has no query budget.
LIST_QUERIES, DETAIL_QUERIES = 10, 20
DELIVERY_MS, DELIVERY_QUERIES = 30, 12


@dataclass(frozen=True)
class Page:
    key: str
    budget_ms: int
    url: Callable[[dict], str]
    budget_queries: int | None = LIST_QUERIES


def _list(**params) -> Callable[[dict], str]:
    return lambda found: f"{reverse('customers:list')}?{urlencode(params)}"


def _admin(name: str, **params) -> Callable[[dict], str]:
    return lambda found: f"{reverse(f'admin:{name}_changelist')}?{urlencode(params)}"


PAGES = (
    Page("customer_list", LIST_MS, _list()),
    Page("customer_list_search_name", LIST_MS, lambda f: _list(q=f["last_name"])(f)),
    Page("customer_list_search_phone", LIST_MS, lambda f: _list(q=f["phone_part"])(f)),
    Page("customer_list_segment", LIST_MS, _list(rfm_segment="Champions")),
    Page("customer_list_deep_page", LIST_MS, _list(page=500)),
    Page(
        "customer_list_churn_by_value",
        LIST_MS,
        _list(churn_risk_min="50", sort="-predicted_clv"),
    ),
    Page(
        "customer_list_three_filters",
        LIST_MS,
        _list(status="active", customer_type="regular", order_count_min=2),
    ),
    Page(
        "customer_page",
        DETAIL_MS,
        lambda f: reverse("customers:detail", args=[f["heaviest"]]),
        DETAIL_QUERIES,
    ),
    Page("dashboard", DASHBOARD_MS, lambda f: reverse("home"), None),
    Page("follow_ups", LIST_MS, lambda f: reverse("customers:follow_ups")),
    Page("address_queue", LIST_MS, lambda f: reverse("customers:address_queue")),
    Page("admin_customers", LIST_MS, _admin("customers_customer")),
    Page(
        "admin_customers_search",
        LIST_MS,
        lambda f: _admin("customers_customer", q=f["last_name"])(f),
    ),
    Page("admin_orders", LIST_MS, _admin("customers_order")),
    Page(
        "admin_orders_search_number", LIST_MS, lambda f: _admin("customers_order", q=f["number"])(f)
    ),
    Page(
        "admin_orders_search_email", LIST_MS, lambda f: _admin("customers_order", q=f["email"])(f)
    ),
    Page("admin_loyalty_ledger", LIST_MS, _admin("loyalty_loyaltytransaction")),
    Page("admin_loyalty_accounts", LIST_MS, _admin("loyalty_loyaltyaccount")),
)


def _found() -> dict:
    """What the pages look for: a common last name, part of a phone number, an order number and
    a customer's email, and the customer with the most orders."""
    from customers.models import Customer, Order

    sample = Customer.objects.filter(pk__lte=20_000).exclude(last_name="")
    last_name = (
        sample.values("last_name").annotate(n=Count("id")).order_by("-n").first() or {}
    ).get("last_name", "Smith")
    with_phone = Customer.objects.exclude(phone="").only("phone", "email").first()
    digits = "".join(ch for ch in str(with_phone.phone) if ch.isdigit()) if with_phone else ""
    order = Order.objects.only("number").order_by("-pk").first()
    heaviest = (
        Order.objects.filter(customer_id__lte=50_000)
        .values("customer_id")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    return {
        "last_name": last_name,
        "phone_part": digits[-7:-3] + " " + digits[-3:] if len(digits) >= 7 else "555",
        "number": order.number if order else "1",
        "email": with_phone.email if with_phone else "a@example.com",
        "heaviest": heaviest["customer_id"] if heaviest else 1,
    }


def _timed(client: Client, url: str) -> tuple[float, int, int]:
    """(median ms, status, queries) of a page."""
    client.get(url)  # warm-up
    times = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return round(statistics.median(times), 1), response.status_code, len(queries)


def _delivery_and_return() -> dict:
    """One delivery and one return of an order of a loyalty member, with a running program."""
    from customers import services
    from customers.models import Customer
    from loyalty.models import LoyaltyProgram

    LoyaltyProgram.objects.get_or_create(
        name="Bench club", defaults={"points_per_unit": Decimal("1"), "pending_days": 0}
    )
    customer = Customer.objects.filter(order_count__gte=1).only("pk").first()
    figures = {"delivery": [], "return": []}
    counts = {}
    orders = []
    for attempt in range(REQUESTS + 1):
        order = services.order_create(
            customer=customer, number=f"BENCH-{time.time_ns()}-{attempt}", total=Decimal("42.00")
        )
        orders.append(order)
        for move, status in (("delivery", "delivered"), ("return", "returned")):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                services.order_set_status(order=order, status=status)
                elapsed = (time.perf_counter() - started) * 1000
            if attempt:  # the first is the warm-up (it also enrols the customer)
                figures[move].append(elapsed)
                counts[move] = len(queries)
    for order in orders:
        services.order_delete(order=order)
    return {
        move: {"median_ms": round(statistics.median(times), 2), "queries": counts[move]}
        for move, times in figures.items()
    }


def measure_pages(spec: DatasetSpec) -> dict:
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    found = _found()
    client = Client()
    client.force_login(user)
    pages = {}
    started = time.perf_counter()
    with override_settings(DEBUG=False, ALLOWED_HOSTS=["testserver"]):
        for page in PAGES:
            url = page.url(found)
            median, status, queries = _timed(client, url)
            pages[page.key] = {
                "url": url,
                "median_ms": median,
                "status": status,
                "queries": queries,
                "budget_ms": page.budget_ms,
                "budget_queries": page.budget_queries,
            }
    delivery_path = _delivery_and_return()
    return {
        "status": "succeeded",
        "duration_seconds": round(time.perf_counter() - started, 2),
        "pages": pages,
        "delivery_path": delivery_path,
    }


def summarize_pages(results: dict[int, dict]) -> dict:
    from crm.bench.sections import REFERENCE_CUSTOMERS, REFERENCE_ORDERS

    reference = results.get(REFERENCE_CUSTOMERS) or {}
    budgets = {}
    for key, page in (reference.get("pages") or {}).items():
        budgets[f"page_{key}_ms"] = {
            "budget": page["budget_ms"],
            "measured": page["median_ms"],
            "passed": page["status"] == 200 and page["median_ms"] <= page["budget_ms"],
        }
        if page.get("budget_queries") is not None:
            budgets[f"page_{key}_queries"] = {
                "budget": page["budget_queries"],
                "measured": page["queries"],
                "passed": page["queries"] <= page["budget_queries"],
            }
    for move, figures in (reference.get("delivery_path") or {}).items():
        budgets[f"{move}_ms"] = {
            "budget": DELIVERY_MS,
            "measured": figures["median_ms"],
            "passed": figures["median_ms"] <= DELIVERY_MS,
        }
        budgets[f"{move}_queries"] = {
            "budget": DELIVERY_QUERIES,
            "measured": figures["queries"],
            "passed": figures["queries"] <= DELIVERY_QUERIES,
        }
    return {
        "budgets": budgets,
        "budgets_at": {"customers": REFERENCE_CUSTOMERS, "orders": REFERENCE_ORDERS},
        **({} if reference else {"note": "Measured only at the reference size."}),
    }
