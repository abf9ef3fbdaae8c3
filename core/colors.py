"""Colours staff choose (a tag's), made safe and readable wherever they are shown."""

import re

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#6c757d"


def safe_color(value: str) -> str:
    """The colour if it is a #rrggbb value, else the default grey: it goes into a style."""
    return value if HEX_COLOR.match(value or "") else DEFAULT_COLOR


def readable_text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background`` (WCAG relative luminance:
    at least 4.5:1 for any colour)."""
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05): equal at 0.179.
    return "#000" if luminance > 0.179 else "#fff"


def badge_style(color: str) -> str:
    """The inline style of a badge in ``color``: its background and a readable text colour."""
    background = safe_color(color)
    return f"background-color: {background}; color: {readable_text_color(background)}"
