"""The one rule against spreadsheet formula injection (CSV injection), for every export, and the
cells of CSV (``cell_text``) and XLSX (``xlsx_cell``) made by it.

A spreadsheet runs a cell that starts with =, +, -, @, a tab or a carriage return as a formula
(``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3``). Such a text cell is written with a single quote
in front, which the spreadsheet shows as text. A number (int, Decimal, float) is left as it is: a
negative amount stays a number, in XLSX a numeric cell and in CSV a plain numeral. So exports
hand numbers over as numbers (``force_native_type``), not as text already rendered; a phone
number is text, and "+44 20 7183 8750" keeps its "+" behind the quote."""

import datetime
from decimal import Decimal

from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell_safe(value):
    """The value as an export writes it: text that a spreadsheet would run as a formula gets a
    leading ', anything else (numbers, dates, None, ordinary text) comes back unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return value


def cell_text(value) -> str:
    """A value as the text of a CSV cell, made safe by ``cell_safe``."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | Decimal):
        return str(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return cell_safe(text)


XLSX_VALUE_TYPES = (bool, int, float, Decimal, datetime.date)


def xlsx_cell(value):
    """A value as an XLSX cell takes it: made safe by ``cell_safe``, numbers and dates as they
    are (a date-time in the shop's time zone, since a spreadsheet has none), anything else as
    its text."""
    if value is None or isinstance(value, XLSX_VALUE_TYPES):
        if isinstance(value, datetime.datetime) and timezone.is_aware(value):
            return timezone.localtime(value).replace(tzinfo=None)
        return value
    return cell_safe(str(value))
