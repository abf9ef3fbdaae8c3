"""Error pages in the site's layout."""

import logging

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.views.decorators.csrf import requires_csrf_token

logger = logging.getLogger(__name__)

LAST_RESORT = (
    "<!doctype html><title>Server error</title><h1>Something went wrong on our side</h1>"
    '<p>The error has been logged. <a href="/">Back to the dashboard</a></p>'
)


@requires_csrf_token
def server_error(request):
    """The 500 page with the site's navigation, rendered with the request (the user, their
    permissions). If that fails too (the database down, say), the same page without the
    request, and if even that fails, a line of plain HTML."""
    try:
        return render(request, "500.html", status=500)
    except Exception:  # noqa: BLE001 - the page of last resort must not raise
        logger.warning("The 500 page could not be rendered with the request.")
    try:
        return HttpResponseServerError(loader.get_template("500.html").render())
    except Exception:  # noqa: BLE001
        return HttpResponseServerError(LAST_RESORT)
