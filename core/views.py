"""Error pages in the site's layout."""

import logging

from django.shortcuts import render
from django.views.decorators.csrf import requires_csrf_token
from django.views.defaults import server_error as plain_server_error

logger = logging.getLogger(__name__)


@requires_csrf_token
def server_error(request):
    """The 500 page with the site's navigation. It renders with the request (the user, their
    permissions), and falls back to Django's page without them if that fails too, for example
    with the database down."""
    try:
        return render(request, "500.html", status=500)
    except Exception:  # noqa: BLE001 - the page of last resort must not raise
        logger.warning("The 500 page could not be rendered with the request.", exc_info=False)
        return plain_server_error(request)
