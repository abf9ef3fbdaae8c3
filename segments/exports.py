"""A segment's members as CSV, streamed: the rows are read in chunks and written as they come,
so memory stays flat whatever the size of the segment."""

import csv
from collections.abc import Iterator

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from segments.models import Segment

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
# A spreadsheet reads a cell starting with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file that hands back what is written to it, for csv.writer to produce lines."""

    def write(self, value: str) -> str:
        return value


def cell_text(value) -> str:
    """A value as a CSV cell; one a spreadsheet would run as a formula is prefixed with '."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def members_rows(segment: Segment, user) -> Iterator[list[str]]:
    """The heading, then one row per member the user may see, by id, from one query."""
    yield [heading for heading, _ in MEMBER_COLUMNS]
    members = (
        segment.customers(user)
        .order_by("pk")
        .values_list(*(column for _, column in MEMBER_COLUMNS))
    )
    for row in members.iterator(chunk_size=CHUNK_SIZE):
        yield [cell_text(value) for value in row]


def members_csv_response(segment: Segment, user) -> StreamingHttpResponse:
    """The members of ``segment`` that ``user`` may see as a CSV download, streamed. The
    caller checks the user's permissions (segments.view_segment and customers.view_customer)."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in members_rows(segment, user)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{segment.slug}-members.csv"
    )
    return response
