"""Tag colours: safe in a style attribute, and text that reads on them."""

import pytest

from core.colors import badge_style, readable_text_color, safe_color


def contrast(first: str, second: str) -> float:
    def luminance(color: str) -> float:
        channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@pytest.mark.parametrize(
    "background", ["#20c997", "#fd7e14", "#0d6efd", "#6c757d", "#ffc107", "#000000", "#ffffff"]
)
def test_badge_text_reads_on_its_colour(background):
    text = readable_text_color(background)

    assert contrast(background, "#000000" if text == "#000" else "#ffffff") >= 4.5


def test_a_colour_that_is_not_hex_falls_back_to_grey():
    assert safe_color("red; background: url(x)") == "#6c757d"
    assert badge_style("#20c997") == "background-color: #20c997; color: #000"
