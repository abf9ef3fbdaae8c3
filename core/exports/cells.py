"""The one rule against spreadsheet formula injection (CSV injection), for every export.

A spreadsheet runs a cell that starts with =, +, -, @, a tab or a carriage return as a formula
(``=HYPERLINK(...)``, ``@SUM(...)``, ``-2+3``). Such a text cell is written with a single quote
in front, which the spreadsheet shows as text. A number (int, Decimal, float) is left as it is: a
negative amount stays a number, in XLSX a numeric cell and in CSV a plain numeral. So exports
hand numbers over as numbers (``force_native_type``), not as text already rendered; a phone
number is text, and "+44 20 7183 8750" keeps its "+" behind the quote."""

from decimal import Decimal

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
