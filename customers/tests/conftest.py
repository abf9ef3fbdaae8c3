"""Fixtures of the customers app's tests."""

import csv
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from customers.models import Customer, Order
from customers.services import orders_bulk_sync

# A copy of the public CDNOW sample kept with the tests (source and licence: data/README.md).
CDNOW = Path(__file__).resolve().parent / "data" / "cdnow_sample.csv"


@pytest.fixture
def cdnow(db):
    """The CDNOW sample as a shop's history: its customers and delivered orders, written in
    bulk, then the bulk sync. Returns the file's rows."""
    rows = list(csv.DictReader(CDNOW.open()))
    ids = sorted({row["customer_id"] for row in rows}, key=int)
    customers = Customer.objects.bulk_create(
        Customer(first_name=f"CDNOW {cid}", external_id=f"CDNOW-{cid}", source="import")
        for cid in ids
    )
    by_id = {customer.external_id: customer for customer in customers}
    Order.objects.bulk_create(
        (
            Order(
                customer=by_id[f"CDNOW-{row['customer_id']}"],
                number=f"CDNOW-{index}",
                status=Order.Status.DELIVERED,
                placed_at=datetime.fromisoformat(row["order_date"]).replace(hour=12, tzinfo=UTC),
                total=Decimal(row["amount"]),
                item_count=int(row["quantity"]),
            )
            for index, row in enumerate(rows)
        ),
        batch_size=2000,
    )
    orders_bulk_sync()
    return rows
