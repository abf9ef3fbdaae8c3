"""`manage.py bench`: the data set builder, the report, and the refusal to run on SQLite.

The real measurements are made by `make bench` on large data sets (docs/benchmarks.md); these
tests build a tiny set to check that the builder's rows are right and the report has its keys.
"""

import datetime as dt
import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from crm.bench import databases
from crm.bench.dataset import DatasetSpec, build_dataset
from crm.bench.sections import REFERENCE_CUSTOMERS, measure_analytics, summarize_analytics
from crm.management.commands.bench import sizes_type
from customers.models import Customer, Order, Tag
from customers.stats import customer_stats_recompute

ON_POSTGRESQL = settings.DATABASES["default"]["ENGINE"] == databases.POSTGRESQL_ENGINE
TINY = DatasetSpec(customers=300, orders=2_000, as_of=dt.date(2026, 6, 30), seed=7)


def _structures() -> set[str]:
    """The names of the order and customer tables' indexes and constraints."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = ANY(%s) "
            "UNION SELECT conname FROM pg_constraint WHERE conrelid = ANY(%s::regclass[])",
            [["customers_customer", "customers_order"]] * 2,
        )
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.skipif(ON_POSTGRESQL, reason="checks the refusal on SQLite")
def test_bench_refuses_sqlite_with_a_clear_message():
    with pytest.raises(CommandError, match=r"needs PostgreSQL.*DATABASE_URL=postgres://"):
        call_command("bench", "--sizes", "300")


def test_sizes_accept_plain_numbers_and_suffixes():
    assert sizes_type("1m, 10k,100000") == (10_000, 100_000, 1_000_000)


def test_summary_judges_the_budgets_at_one_million_customers():
    def run(seconds, peak):
        return {"status": "succeeded", "duration_seconds": seconds, "peak_rss_mb": peak}

    summary = summarize_analytics(
        {10_000: run(1.0, 150), 100_000: run(9.0, 200), 1_000_000: run(95.0, 900)}
    )

    budgets = summary["budgets"]
    assert budgets["analytics_full_run_seconds"] == {
        "budget": 90,
        "measured": 95.0,
        "passed": False,
    }
    assert budgets["analytics_memory_mb"] == {"budget": 2048, "measured": 900, "passed": True}
    assert budgets["analytics_cost_linear"]["measured"] == pytest.approx(1.023, abs=0.002)
    assert budgets["analytics_cost_linear"]["passed"] is True
    assert summary["growth"]["per_customer"]["1000000"]["microseconds_per_customer"] == 95.0


def test_with_repeats_the_budgets_judge_the_slowest_run():
    def run(seconds, peak):
        return {"status": "succeeded", "duration_seconds": seconds, "peak_rss_mb": peak}

    median = run(40.0, 500)
    repeated = {**median, "runs": [run(120.0, 700), median, run(30.0, 400)]}

    budgets = summarize_analytics({1_000_000: repeated})["budgets"]

    assert budgets["analytics_full_run_seconds"]["measured"] == 120.0
    assert budgets["analytics_full_run_seconds"]["passed"] is False
    assert budgets["analytics_memory_mb"]["measured"] == 700


@pytest.mark.postgres
@pytest.mark.django_db
def test_builder_fills_the_tables_with_skewed_orders_and_matching_stats():
    structures = _structures()

    figures = build_dataset(TINY)

    assert Customer.objects.count() == 300 and Order.objects.count() == 2_000
    assert figures["orders"] == 2_000 and figures["stats_drift"] == 0
    assert customer_stats_recompute() == 0
    assert _structures() == structures  # dropped for the load and rebuilt
    orders_per_customer = sorted(
        Customer.objects.annotate(orders_made=Count("orders")).values_list("orders_made", flat=True)
    )
    buyers = [count for count in orders_per_customer if count]
    assert orders_per_customer[0] == 0  # some never order
    assert buyers.count(1) >= 0.2 * len(buyers)  # many one-time buyers
    assert buyers[-1] >= 5 * (sum(buyers) / len(buyers))  # and a few heavy ones
    assert set(Order.objects.values_list("status", flat=True)) >= {"delivered", "cancelled"}
    assert not Order.objects.exclude(stats_applied=True).filter(status="delivered").exists()
    assert not Order.objects.filter(stats_applied=True).exclude(status="delivered").exists()
    end = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
    assert not Order.objects.filter(placed_at__gte=end).exists()
    placed = list(Order.objects.order_by("id").values_list("placed_at", flat=True))
    assert placed == sorted(placed)  # numbered in time order, as a shop's orders are
    assert Customer.objects.create(first_name="Next").pk == 301  # sequences moved on


@pytest.mark.postgres
@pytest.mark.django_db
def test_builder_refuses_tables_that_are_not_empty():
    Customer.objects.create(first_name="Ada")

    with pytest.raises(databases.BenchError, match="must be empty"):
        build_dataset(TINY)


@pytest.mark.postgres
@pytest.mark.django_db
def test_analytics_measurement_reports_the_run_and_its_steps():
    build_dataset(TINY)

    result = measure_analytics(TINY)

    assert result["status"] == "succeeded", result.get("error")
    assert result["customers_scored"] == 300
    assert set(result["steps"]) >= {"aggregate", "rfm", "churn", "write", "upkeep"}
    assert result["duration_seconds"] >= result["run_call_seconds"] > 0  # the chain: run + upkeep
    assert result["peak_rss_mb"] >= result["baseline_rss_mb"] > 0
    assert result["customers_per_second"] > 0


def _bench(*options) -> dict:
    out = io.StringIO()
    call_command("bench", "--sizes", "300", "--orders-per-customer", "6", *options, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_bench_command_prints_the_documented_report_and_reuses_a_kept_data_set():
    name = databases.bench_database_name(300)
    try:
        report = _bench("--keep")
        again = _bench()
    finally:
        databases.database_drop(name)

    assert {"machine", "options", "datasets", "sections", "summary"} <= set(report)
    assert {"cores", "memory_gb", "python", "postgresql"} <= set(report["machine"])
    dataset = report["datasets"]["300"]
    assert dataset["orders"] == 1_800 and dataset["build"]["stats_drift"] == 0
    assert {"generate", "copy", "orders_insert", "indexes"} <= set(dataset["build"]["seconds"])
    analytics = report["sections"]["analytics"]
    measured = analytics["sizes"]["300"]
    assert measured["status"] == "succeeded", measured.get("error")
    assert {"duration_seconds", "steps", "peak_rss_mb", "customers_per_second"} <= set(measured)
    assert {"per_customer", "pairs"} <= set(analytics["growth"])
    assert analytics["budgets"]["analytics_full_run_seconds"]["budget"] == 90
    assert analytics["budgets"]["analytics_memory_mb"]["budget"] == 2048
    assert "analytics_full_run_seconds" in report["summary"]["not_measured"]
    # The second run found the kept data set, scored it as the next night, and dropped it.
    assert dataset["reused"] is False and again["datasets"]["300"]["reused"] is True
    next_night = dt.date.fromisoformat(measured["as_of"]) + dt.timedelta(days=1)
    assert again["sections"]["analytics"]["sizes"]["300"]["as_of"] == next_night.isoformat()
    assert not databases.database_exists(name)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_pages_measurement_times_every_page_and_the_delivery_path():
    from crm.bench.pages import PAGES, measure_pages, summarize_pages

    build_dataset(TINY)
    measure_analytics(TINY)

    result = measure_pages(TINY)

    assert result["status"] == "succeeded"
    assert set(result["pages"]) == {page.key for page in PAGES}
    assert {page["status"] for page in result["pages"].values()} == {200}
    assert all(page["queries"] > 0 and page["median_ms"] > 0 for page in result["pages"].values())
    assert result["delivery_path"]["delivery"]["queries"] == 12  # with the campaign attribution
    assert result["delivery_path"]["return"]["queries"] == 12
    budgets = summarize_pages({REFERENCE_CUSTOMERS: result})["budgets"]
    assert budgets["delivery_queries"] == {"budget": 12, "measured": 12, "passed": True}


def test_every_list_page_of_the_bench_asks_for_filters_and_sorts_the_list_has():
    """A mistyped parameter would be ignored by the list, and the bench would time another page."""
    from urllib.parse import parse_qs, urlsplit

    from crm.bench.pages import PAGES
    from customers.filters import CustomerFilter, CustomerOrderingFilter

    found = {"last_name": "Smith", "phone_part": "555", "number": "1", "email": "a@b.c"}
    lists = [page for page in PAGES if page.key.startswith("customer_list")]
    assert len(lists) == 7
    for page in lists:
        params = parse_qs(urlsplit(page.url(found)).query)
        assert set(params) <= {*CustomerFilter.base_filters, "page", "per_page"}, page.key
        assert set(params.get("sort", [])) <= CustomerOrderingFilter.valid_values(), page.key


def test_the_bench_churn_page_asks_for_the_customers_at_fifty_percent_or_more():
    from urllib.parse import parse_qs, urlsplit

    from crm.bench.pages import PAGES
    from customers.filters import CustomerFilter

    (page,) = [page for page in PAGES if page.key == "customer_list_churn_by_value"]
    params = parse_qs(urlsplit(page.url({})).query)
    form = CustomerFilter({key: values[0] for key, values in params.items()}).form

    assert form.is_valid(), form.errors
    assert form.cleaned_data["churn_risk_min"] == 50  # percent, as the list takes it


def test_pages_have_query_budgets_judged_with_their_time():
    from crm.bench.pages import summarize_pages

    result = {
        "pages": {
            "customer_list": {
                "median_ms": 40.0,
                "status": 200,
                "queries": 11,
                "budget_ms": 100,
                "budget_queries": 10,
            },
            "dashboard": {
                "median_ms": 90.0,
                "status": 200,
                "queries": 15,
                "budget_ms": 150,
                "budget_queries": None,
            },
        },
        "delivery_path": {},
    }

    budgets = summarize_pages({REFERENCE_CUSTOMERS: result})["budgets"]

    assert budgets["page_customer_list_ms"]["passed"] is True
    assert budgets["page_customer_list_queries"] == {"budget": 10, "measured": 11, "passed": False}
    assert "page_dashboard_queries" not in budgets


def test_segments_budgets_judge_the_refresh_and_each_member_page():
    from crm.bench.segments import summarize_segments

    def page(median_ms, queries, status=200):
        return {
            "median_ms": median_ms,
            "status": status,
            "queries": queries,
            "budget_ms": 150,
            "budget_queries": 10,
        }

    result = {
        "refresh_all_seconds": 31.5,
        "member_pages": {
            "vip": page(80.0, 9),
            "at-risk": page(420.0, 9),
            "never-ordered": page(60.0, 12),
            "inactive": page(20.0, 9, status=500),
        },
    }

    result["bulk_tag"] = {"members": 100_000, "tag_seconds": 21.0}

    summary = summarize_segments({10_000: result, REFERENCE_CUSTOMERS: result})
    budgets = summary["budgets"]

    assert budgets["segments_refresh_all_seconds"] == {
        "budget": 30,
        "measured": 31.5,
        "passed": False,
    }
    assert budgets["segment_vip_ms"]["passed"] is True
    assert budgets["segment_vip_queries"] == {"budget": 10, "measured": 9, "passed": True}
    assert budgets["segment_at_risk_ms"] == {"budget": 150, "measured": 420.0, "passed": False}
    assert budgets["segment_never_ordered_queries"]["passed"] is False
    assert budgets["segment_inactive_ms"]["passed"] is False  # a fast error page is no pass
    assert budgets["segment_bulk_tag_seconds"] == {"budget": 20, "measured": 21.0, "passed": False}
    assert "note" not in summary


def test_segments_budgets_are_not_measured_without_the_reference_size():
    from crm.bench.segments import summarize_segments

    summary = summarize_segments({10_000: {"refresh_all_seconds": 0.2, "member_pages": {}}})

    assert summary["budgets"]["segments_refresh_all_seconds"]["passed"] is None
    assert summary["note"] == "Measured only at the reference size."


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_segments_measurement_counts_every_segment_and_times_each_prebuilt_page():
    from crm.bench.segments import measure_segments, summarize_segments
    from segments.models import Segment

    build_dataset(TINY)

    result = measure_segments(TINY)

    assert result["status"] == "succeeded", result.get("error")
    assert result["scored_first"] is True  # no run had scored the set: the section scored it
    prebuilt = set(Segment.objects.filter(is_system=True).values_list("slug", flat=True))
    assert set(result["member_pages"]) == prebuilt and len(prebuilt) == 8
    assert result["segments_counted"] == Segment.objects.count()
    assert {page["status"] for page in result["member_pages"].values()} == {200}
    assert all(page["median_ms"] > 0 for page in result["member_pages"].values())
    assert (
        result["member_pages"]["never-ordered"]["members"]
        == Customer.objects.filter(order_count=0).count()
    )
    bulk = result["bulk_tag"]
    assert bulk["members"] >= TINY.customers // 10  # the top tenth, ties included
    assert bulk["tag_changed"] == bulk["members"] == bulk["untag_changed"]
    assert bulk["tag_again_changed"] == 0
    assert not Tag.objects.filter(name="bench-bulk").exists()  # the data set left as it was
    budgets = summarize_segments({REFERENCE_CUSTOMERS: result})["budgets"]
    assert budgets["segment_vip_queries"]["budget"] == 10
    assert budgets["segments_refresh_all_seconds"]["passed"] is True
    assert budgets["segment_bulk_tag_seconds"]["budget"] == 20


def test_communications_budgets_judge_the_start_the_send_and_the_page():
    from crm.bench.communications import summarize_communications

    result = {
        "status": "succeeded",
        "start_seconds": 31.0,
        "emails_per_second": 640,
        "peak_rss_mb": 310.0,
        "page": {
            "median_ms": 90.0,
            "status": 200,
            "queries": 6,
            "budget_ms": 150,
            "budget_queries": 10,
        },
        "log_pages": {
            "all": {
                "median_ms": 40.0,
                "status": 200,
                "queries": 6,
                "budget_ms": 100,
                "budget_queries": 10,
            },
            "skipped": {
                "median_ms": 140.0,
                "status": 200,
                "queries": 6,
                "budget_ms": 100,
                "budget_queries": 10,
            },
        },
    }

    summary = summarize_communications({10_000: result, REFERENCE_CUSTOMERS: result})
    budgets = summary["budgets"]

    assert budgets["campaign_start_seconds"] == {"budget": 30, "measured": 31.0, "passed": False}
    assert budgets["campaign_send_emails_per_second"] == {
        "budget": 500,
        "measured": 640,
        "passed": True,
    }
    assert budgets["campaign_page_ms"] == {"budget": 150, "measured": 90.0, "passed": True}
    assert budgets["campaign_page_queries"]["passed"] is True
    assert summary["memory"] == {"peak_rss_mb": 310.0}
    assert budgets["log_page_all_ms"]["passed"] is True
    assert budgets["log_page_skipped_ms"] == {"budget": 100, "measured": 140.0, "passed": False}
    assert budgets["log_page_skipped_queries"]["passed"] is True
    assert "note" not in summary


def test_communications_budgets_are_not_measured_without_the_reference_size():
    from crm.bench.communications import summarize_communications

    summary = summarize_communications({10_000: {"status": "succeeded", "start_seconds": 0.2}})

    assert summary["budgets"] == {}
    assert summary["note"] == "Measured only at the reference size."


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_communications_measurement_starts_sends_and_times_a_campaign():
    from communications.models import Campaign
    from crm.bench.communications import measure_communications
    from segments.models import Segment

    build_dataset(TINY)

    result = measure_communications(TINY)

    assert result["status"] == "succeeded"
    assert result["recipients"] == result["members"] >= TINY.customers // 10
    assert result["sent"] == result["accepted_by_backend"] > 0
    assert result["sent"] + result["skipped"] + result["held_out"] == result["recipients"]
    assert result["finished"] is True
    assert result["page"]["status"] == 200
    assert {page["status"] for page in result["log_pages"].values()} == {200}
    assert not Campaign.objects.exists()  # the data set left as it was
    assert not Segment.objects.filter(name="Bench: campaign audience").exists()


def test_import_export_budgets_judge_export_create_and_update_rates():
    from crm.bench.import_export import summarize_import_export

    result = {
        "status": "succeeded",
        "export": {"rows_per_second": 61_000, "peak_rss_mb": 120.0},
        "import_create": {
            "rows_per_second": 9_500,
            "errors": 0,
            "memory_mb": {"before": 150.0, "peak": 170.0},
        },
        "import_update": {"rows_per_second": 2_400, "errors": 3},
        "peak_rss_mb": 240.0,
    }

    summary = summarize_import_export({10_000: result, REFERENCE_CUSTOMERS: result})
    budgets = summary["budgets"]

    assert budgets["export_rows_per_second"] == {
        "budget": 50_000,
        "measured": 61_000,
        "passed": True,
    }
    assert budgets["import_create_rows_per_second"]["passed"] is False
    assert budgets["import_update_rows_per_second"]["passed"] is False  # fast, with errors
    assert summary["memory"] == {
        "export_peak_rss_mb": 120.0,
        "import_create_mb": {"before": 150.0, "peak": 170.0},
        "import_update_mb": None,
        "peak_rss_mb": 240.0,
    }
    assert summarize_import_export({10_000: result}) == {
        "budgets": {},
        "note": "Measured only at the reference size.",
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_import_export_measurement_exports_creates_updates_and_leaves_the_data_set():
    from core.models import ImportJob
    from crm.bench.import_export import measure_import_export

    build_dataset(TINY)

    result = measure_import_export(TINY)

    assert result["status"] == "succeeded"
    assert result["export"]["rows"] == TINY.customers
    created, updated = result["import_create"], result["import_update"]
    assert created["errors"] == 0 and created["totals"]["new"] == TINY.customers // 10
    assert updated["errors"] == 0 and updated["totals"]["update"] == TINY.customers // 10
    assert Customer.objects.count() == TINY.customers  # the data set left as it was
    assert created["status"] == updated["status"] == "succeeded"
    assert not ImportJob.objects.exists()
    # The import's own memory: its peak since it started, above what it started with.
    memory = created["memory_mb"]
    assert memory is None or 0 < memory["before"] <= memory["peak"]
