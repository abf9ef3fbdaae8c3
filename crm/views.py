from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.views.decorators.cache import never_cache

from core import registry


@login_required
def dashboard(request):
    """Everyone's home page: the dashboard cards the user may see, in their registered order.

    Each card's template is rendered with the dict its context function returns, on top of the
    request context (user, perms, crm_currency), so an app adds a card by registering it in
    core.registry without touching this view. A user who may see no card gets a short message
    instead of a 403, since this is where login lands.
    """
    cards = [
        (card, render_to_string(card.template, {**context, "card": card}, request=request))
        for card, context in registry.dashboard_cards_for(request)
    ]
    return render(request, "crm/dashboard.html", {"cards": cards})


@never_cache
def health(request):
    """For load balancers and uptime checks: 200 when the database (and Redis, if used) answer."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {error.__class__.__name__}"
    if settings.REDIS_URL:
        try:
            cache.set("health-check", "ok", 5)
            checks["redis"] = "ok" if cache.get("health-check") == "ok" else "error"
        except Exception as error:  # noqa: BLE001
            checks["redis"] = f"error: {error.__class__.__name__}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


def favicon(request: HttpRequest) -> HttpResponseRedirect:
    """The icon, for browsers that ask for /favicon.ico (the admin's pages name none)."""
    return HttpResponseRedirect(static("favicon.svg"))
