"""A segment's members as CSV, streamed: the rows are read in chunks and written as they come,
so memory stays flat whatever the size of the segment."""

from collections.abc import Iterator

from django.http import StreamingHttpResponse

from core.exports.cells import cell_text
from core.exports.streaming import csv_streaming_response
from segments.models import Segment

__all__ = ["MEMBER_COLUMNS", "cell_text", "members_csv_response", "members_rows"]

# (heading, column) in the order of the file.
MEMBER_COLUMNS = (
    ("id", "id"),
    ("first name", "first_name"),
    ("last name", "last_name"),
    ("email", "email"),
    ("phone", "phone"),
    ("external id", "external_id"),
    ("status", "status"),
    ("total spent", "total_spent"),
    ("order count", "order_count"),
    ("last order", "last_order_at"),
    ("RFM segment", "rfm_segment"),
    ("churn risk", "churn_risk"),
)
CHUNK_SIZE = 2000


def members_rows(segment: Segment, user) -> Iterator[tuple]:
    """The heading, then one row per member the user may see, by id, from one query."""
    yield [heading for heading, _ in MEMBER_COLUMNS]
    members = (
        segment.customers(user)
        .order_by("pk")
        .values_list(*(column for _, column in MEMBER_COLUMNS))
    )
    yield from members.iterator(chunk_size=CHUNK_SIZE)


def members_csv_response(segment: Segment, user) -> StreamingHttpResponse:
    """The members of ``segment`` that ``user`` may see as a CSV download, streamed. The
    caller checks the user's permissions (segments.view_segment and customers.view_customer)."""
    # Each cell is made safe against formula injection by core.exports (csv_lines).
    return csv_streaming_response(members_rows(segment, user), f"{segment.slug}-members.csv")
