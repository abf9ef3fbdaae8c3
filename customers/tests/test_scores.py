"""The searchable copy of the scores: what the run leaves in it, how the PostgreSQL swap keeps
the table's indexes and its readers, and the list filters and sorts that read it."""

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import close_old_connections, connection
from django.urls import reverse
from django.utils import timezone

from customers.analytics import run as analytics
from customers.analytics.scores import score_table_rebuild
from customers.models import Customer, CustomerScore
from customers.tests.factories import CustomerFactory
from customers.tests.test_analytics_run import shop

pytestmark = pytest.mark.django_db

LIST = reverse("customers:list")


def scored(segment, churn_risk, predicted_clv, **fields):
    """A customer with scores written the way the run writes them, then the copy rebuilt."""
    customer = CustomerFactory(**fields)
    Customer.objects.filter(pk=customer.pk).update(
        rfm_segment=segment,
        churn_risk=churn_risk,
        predicted_clv=Decimal(predicted_clv),
        analytics_at=timezone.now(),
    )
    score_table_rebuild()
    return customer


def listed(client, **params) -> list[str]:
    response = client.get(LIST, params)
    assert response.status_code == 200
    return [customer.first_name for customer in response.context["customers"]]


def copy_rows() -> dict[int, tuple]:
    return {
        row.customer_id: (row.rfm_segment, row.churn_risk, row.predicted_clv, row.value_at_stake)
        for row in CustomerScore.objects.all()
    }


def test_a_run_leaves_a_copy_of_every_scored_customers_scores():
    _, prospect = shop()

    analytics.analytics_run()

    expected = {
        customer.pk: (
            customer.rfm_segment,
            customer.churn_risk,
            customer.predicted_clv,
            (Decimal(str(customer.churn_risk)) * customer.predicted_clv).quantize(Decimal("0.01")),
        )
        for customer in Customer.objects.exclude(pk=prospect.pk)
    }
    assert len(expected) == 12
    assert copy_rows() == expected
    assert Customer.objects.get(pk=prospect.pk).rfm_segment == "Prospect"


def test_a_second_run_replaces_the_copy_and_drops_customers_who_lost_their_scores():
    shop()
    analytics.analytics_run()
    gone = Customer.objects.filter(order_count__gt=0).first()
    gone.orders.update(status="cancelled")
    Customer.objects.filter(pk=gone.pk).update(order_count=0, total_spent=0)

    analytics.analytics_run(as_of=timezone.localdate() + timedelta(days=1))

    assert gone.pk not in copy_rows()
    assert len(copy_rows()) == 11


def test_deleting_a_customer_deletes_its_row():
    customer = scored("Champions", 0.1, "500.00")

    customer.delete()

    assert not CustomerScore.objects.exists()


@pytest.mark.postgres
def test_the_swapped_table_keeps_the_indexes_and_key_the_migrations_made():
    def definitions():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s",
                [CustomerScore._meta.db_table],
            )
            indexes = sorted(cursor.fetchall())
            cursor.execute(
                "SELECT conname, contype FROM pg_constraint WHERE conrelid = %s::regclass",
                [CustomerScore._meta.db_table],
            )
            return indexes, sorted(cursor.fetchall())

    before = definitions()
    scored("Champions", 0.1, "500.00")

    assert definitions() == before
    assert len(before[0]) == 5  # the primary key and four indexes
    assert ("customers_customerscore_pkey", "p") in before[1]
    assert CustomerScore.objects.get().rfm_segment == "Champions"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_readers_see_the_old_copy_or_the_new_one_while_it_is_swapped():
    """Real threads: a reader counts the copy over and over while the run's swap commits."""
    for index in range(30):
        scored("Champions" if index % 2 else "Lost", 0.5, "100.00")
    counts, errors = set(), []
    stop = threading.Event()

    def read():
        try:
            while not stop.is_set():
                counts.add(CustomerScore.objects.filter(rfm_segment="Champions").count())
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for rebuild in range(5):
            Customer.objects.filter(rfm_segment="Lost").update(
                rfm_segment="Champions" if rebuild % 2 == 0 else "Lost"
            )
            score_table_rebuild()
    finally:
        stop.set()
        reader.join()

    assert errors == []
    assert counts <= {15, 30}


# The list's filters and sorts ---------------------------------------------------------------


@pytest.fixture
def staff(client_in_group):
    return client_in_group("Support")


def test_the_segment_filter_reads_the_scored_segments_and_the_prospects(staff):
    scored("Champions", 0.1, "900.00", first_name="Champ")
    scored("Lost", 0.9, "10.00", first_name="Gone")
    prospect = CustomerFactory(first_name="Browser")
    Customer.objects.filter(pk=prospect.pk).update(rfm_segment="Prospect")

    assert listed(staff, rfm_segment="Champions") == ["Champ"]
    assert listed(staff, rfm_segment="Prospect") == ["Browser"]
    assert sorted(listed(staff, rfm_segment=["Champions", "Prospect"])) == ["Browser", "Champ"]


def test_the_churn_filter_and_the_value_sort_read_the_copy(staff):
    scored("At Risk", 0.6, "300.00", first_name="Middle")
    scored("At Risk", 0.8, "900.00", first_name="Top")
    scored("Champions", 0.2, "5000.00", first_name="Safe")
    CustomerFactory(first_name="New")

    assert listed(staff, churn_risk_min="50", sort="-predicted_clv") == ["Top", "Middle"]
    assert listed(staff, sort="-churn_risk") == ["Top", "Middle", "Safe"]
    assert listed(staff, sort="predicted_clv") == ["Middle", "Top", "Safe"]


def test_a_score_sort_says_who_it_leaves_out(staff):
    scored("Champions", 0.1, "900.00", first_name="Champ")
    CustomerFactory(first_name="New")

    sorted_by_score = staff.get(LIST, {"sort": "-predicted_clv"}).content.decode()
    by_name = staff.get(LIST).content.decode()

    assert "data-score-sort" in sorted_by_score
    assert "only the customers the nightly analytics run has scored" in sorted_by_score
    assert "data-score-sort" not in by_name
