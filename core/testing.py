"""Helpers for tests of pages: the elements of a response, and what an htmx response says and
where it puts focus (static/js/a11y.js)."""

import json
from html.parser import HTMLParser


class _StartTags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(response) -> list[tuple[str, dict]]:
    """Every start tag of the response, in page order, with its attributes."""
    parser = _StartTags()
    parser.feed(response.content.decode())
    return parser.found


def element(response, **attrs) -> dict:
    """The attributes of the one element carrying all of ``attrs``."""
    matches = [
        found
        for _, found in elements(response)
        if all(found.get(name) == value for name, value in attrs.items())
    ]
    assert len(matches) == 1, f"{len(matches)} elements with {attrs}"
    return matches[0]


def focused(response) -> list[dict]:
    """The elements marked data-focus: where focus goes after the htmx swap."""
    return [found for _, found in elements(response) if "data-focus" in found]


def announced(response) -> str:
    """What the page's live region is told to say (HX-Trigger crm:announce)."""
    return json.loads(response.headers.get("HX-Trigger", "{}")).get("crm:announce", "")
