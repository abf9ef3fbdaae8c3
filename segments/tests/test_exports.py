import csv
import io
from decimal import Decimal

import pytest
from django.db.models.query import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse

from customers.tests.factories import CustomerFactory
from segments.exports import MEMBER_COLUMNS, cell_text, members_csv_response
from segments.tests.factories import SegmentFactory, SegmentMembershipFactory, all_of, condition

pytestmark = pytest.mark.django_db


def export_url(segment) -> str:
    return reverse("segments:export", args=[segment.slug])


def read_csv(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def export_client(client_with_perms):
    return client_with_perms("segments.view_segment", "customers.view_customer")


def test_export_streams_every_member_with_the_columns(export_client):
    segment = SegmentFactory(
        slug="big-spenders", rules=all_of(condition("total_spent", "gte", 100))
    )
    spender = CustomerFactory(
        first_name="Ada",
        last_name="Lovelace",
        email="ada@example.com",
        phone="+442071838750",
        external_id="EXT-1",
        total_spent=Decimal("150.00"),
        order_count=3,
        rfm_segment="Champions",
        churn_risk=0.25,
    )
    by_hand = CustomerFactory(first_name="Hand", last_name="Added", total_spent=Decimal(0))
    SegmentMembershipFactory(segment=segment, customer=by_hand)
    CustomerFactory(first_name="Outsider", total_spent=Decimal(1))

    response = export_client.get(export_url(segment))

    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert 'filename="big-spenders-members.csv"' in response["Content-Disposition"]
    rows = read_csv(response)
    assert rows[0] == [
        "id", "first name", "last name", "email", "phone", "external id", "status",
        "total spent", "order count", "last order", "RFM segment", "churn risk",
    ]  # fmt: skip
    assert rows[1] == [
        str(spender.pk), "Ada", "Lovelace", "ada@example.com", "'+442071838750", "EXT-1",
        "active", "150.00", "3", "", "Champions", "0.25",
    ]  # fmt: skip
    assert [row[1] for row in rows[1:]] == ["Ada", "Hand"]


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_cells_a_spreadsheet_would_run_as_formulas_are_neutralised(export_client, start):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 0)))
    CustomerFactory(first_name=f"{start}HYPERLINK(1)", last_name="=cmd|' /C calc'!A0")

    rows = read_csv(export_client.get(export_url(segment)))

    assert rows[1][1] == f"'{start}HYPERLINK(1)"
    assert rows[1][2] == "'=cmd|' /C calc'!A0"


def test_cell_text():
    assert cell_text(None) == ""
    assert cell_text("plain") == "plain"
    assert cell_text("-1") == "'-1"
    assert cell_text("a=b") == "a=b"


def test_export_query_count_is_pinned(export_client, assert_queries):
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 0)))
    for _ in range(30):
        CustomerFactory()

    # session, user with permissions, the segment, the members
    with assert_queries(4):
        rows = read_csv(export_client.get(export_url(segment)))
    assert len(rows) == 31


def test_export_reads_the_members_in_chunks(user_with_perms, monkeypatch):
    """The rows come from the iterator, a chunk at a time, not from a list of all of them."""
    segment = SegmentFactory(rules=all_of(condition("total_spent", "gte", 0)))
    CustomerFactory.create_batch(3)
    chunk_sizes = []
    original = QuerySet.iterator

    def iterator(self, chunk_size=None):
        chunk_sizes.append(chunk_size)
        return original(self, chunk_size=chunk_size)

    monkeypatch.setattr(QuerySet, "iterator", iterator)

    response = members_csv_response(segment, user_with_perms())

    assert chunk_sizes == []  # nothing is read before the response is streamed
    assert len(read_csv(response)) == 4
    assert chunk_sizes == [2000]
    assert len(MEMBER_COLUMNS) == 12


@pytest.mark.parametrize(
    "perms",
    [("segments.view_segment",), ("customers.view_customer",)],
)
def test_export_needs_view_segment_and_view_customer(client_with_perms, perms):
    segment = SegmentFactory()

    assert client_with_perms(*perms).get(export_url(segment)).status_code == 403
