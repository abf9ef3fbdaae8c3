"""core/registry.py: panels, timeline sources and dashboard cards that apps register."""

from datetime import UTC, datetime

import pytest
from django.test import RequestFactory

from core import registry
from customers.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def clean_registries(monkeypatch):
    for name in ("_panels", "_timeline_sources", "_dashboard_cards"):
        monkeypatch.setattr(registry, name, {})


def request_for(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def at(day: int) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC)


def test_panels_come_in_order_and_only_with_their_permission(clean_registries, user_with_perms):
    registry.register_panel(key="b", title="B", template="b.html", context=lambda r, c: {"c": c})
    registry.register_panel(key="a", title="A", template="a.html", context=lambda r, c: {}, order=1)
    registry.register_panel(
        key="secret", title="S", template="s.html", context=lambda r, c: {}, permission="x.y"
    )

    shown = registry.panels_for(request_for(user_with_perms()), "customer")

    assert [(panel.key, context) for panel, context in shown] == [
        ("a", {}),
        ("b", {"c": "customer"}),
    ]


def test_the_timeline_merges_sources_newest_first_up_to_the_limit(clean_registries):
    def source(*days):
        return lambda customer, limit: [
            registry.TimelineEntry(at=at(day), kind="k", title=f"{day}") for day in days
        ]

    registry.register_timeline_source(key="one", entries=source(1, 5, 9))
    registry.register_timeline_source(key="two", entries=source(3, 7))
    registry.register_timeline_source(key="hidden", entries=source(8), permission="x.y")

    entries = registry.timeline_for(request_for(UserFactory()), "customer", limit=4)

    assert [entry.title for entry in entries] == ["9", "7", "5", "3"]


def test_a_card_whose_permission_the_user_lacks_is_left_out(clean_registries, user_with_perms):
    registry.register_dashboard_card(key="open", title="O", template="o.html", context=dict)
    registry.register_dashboard_card(
        key="notes", title="N", template="n.html", context=dict, permission="customers.view_note"
    )

    plain = registry.dashboard_cards_for(request_for(user_with_perms()))
    allowed = registry.dashboard_cards_for(request_for(user_with_perms("customers.view_note")))

    assert [card.key for card, _ in plain] == ["open"]
    assert [card.key for card, _ in allowed] == ["notes", "open"]
