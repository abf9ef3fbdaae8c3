"""Registries through which apps add to the customer page and the dashboard.

The customer page and the dashboard know no app: customers, loyalty, segments and communications
register here from their ``AppConfig.ready()``, the way models register with admin.site::

    from core import registry

    registry.register_panel(
        key="loyalty",
        title="Loyalty",
        template="loyalty/panel.html",
        context=loyalty_panel_context,        # (request, customer) -> dict
        permission="loyalty.view_loyaltyaccount",
        order=30,
    )
    registry.register_timeline_source(
        key="loyalty", entries=loyalty_timeline, permission="loyalty.view_loyaltytransaction"
    )
    registry.register_dashboard_card(
        key="loyalty-members", title="Loyalty members", template="loyalty/card.html",
        context=loyalty_card_context,         # (request) -> dict
        permission="loyalty.view_loyaltyaccount",
    )

Rules for contributors, so the pages stay fast whatever a customer's history:
- a panel's context function runs a constant number of queries (paginate or LIMIT);
- a timeline source returns at most ``limit`` entries, newest first, with one query;
- a registration whose permission the user lacks is left out of the page.
"""

import heapq
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class Panel:
    key: str
    title: str
    template: str
    context: Callable[[HttpRequest, Any], dict]
    permission: str | None = None
    order: int = 100


@dataclass(frozen=True, order=True)
class TimelineEntry:
    """One event on a customer's timeline. ``kind`` picks the icon/colour (order, note, ...)."""

    at: datetime
    kind: str = field(compare=False)
    title: str = field(compare=False)
    body: str = field(default="", compare=False)
    url: str = field(default="", compare=False)


@dataclass(frozen=True)
class TimelineSource:
    key: str
    entries: Callable[[Any, int], Iterable[TimelineEntry]]
    permission: str | None = None


@dataclass(frozen=True)
class DashboardCard:
    key: str
    title: str
    template: str
    context: Callable[[HttpRequest], dict]
    permission: str | None = None
    order: int = 100
    width: str = "col-12 col-lg-6"


_panels: dict[str, Panel] = {}
_timeline_sources: dict[str, TimelineSource] = {}
_dashboard_cards: dict[str, DashboardCard] = {}


def register_panel(**kwargs: Any) -> Panel:
    panel = Panel(**kwargs)
    _panels[panel.key] = panel
    return panel


def register_timeline_source(**kwargs: Any) -> TimelineSource:
    source = TimelineSource(**kwargs)
    _timeline_sources[source.key] = source
    return source


def register_dashboard_card(**kwargs: Any) -> DashboardCard:
    card = DashboardCard(**kwargs)
    _dashboard_cards[card.key] = card
    return card


def _allowed(request: HttpRequest, permission: str | None) -> bool:
    return permission is None or request.user.has_perm(permission)


def panels_for(request: HttpRequest, customer: Any) -> list[tuple[Panel, dict]]:
    """The panels this user may see, in order, each with its rendered context."""
    visible = sorted(
        (panel for panel in _panels.values() if _allowed(request, panel.permission)),
        key=lambda panel: (panel.order, panel.key),
    )
    return [(panel, panel.context(request, customer)) for panel in visible]


def timeline_for(request: HttpRequest, customer: Any, limit: int = 30) -> list[TimelineEntry]:
    """The newest ``limit`` events from every source the user may see, newest first."""
    streams = [
        sorted(source.entries(customer, limit), reverse=True)
        for source in _timeline_sources.values()
        if _allowed(request, source.permission)
    ]
    return list(itertools.islice(heapq.merge(*streams, reverse=True), limit))


def dashboard_cards_for(request: HttpRequest) -> list[tuple[DashboardCard, dict]]:
    visible = sorted(
        (card for card in _dashboard_cards.values() if _allowed(request, card.permission)),
        key=lambda card: (card.order, card.key),
    )
    return [(card, card.context(request)) for card in visible]
