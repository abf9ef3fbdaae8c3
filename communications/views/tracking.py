"""Public pages of communications: the links in sent messages (open pixel, clicks,
unsubscribe) and the SMS webhook. None needs a login; a link is trusted by its signed token
(communications/tracking.py), the webhook by its shared secret."""

import base64
import hmac
import json
import logging

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from communications import tracking
from communications.models import Channel, Communication

logger = logging.getLogger(__name__)

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _communication(communication_id: int | None, *related: str) -> Communication:
    if communication_id is None:
        raise Http404("No such link.")
    communication = (
        Communication.objects.select_related(*related).filter(pk=communication_id).first()
    )
    if communication is None:
        raise Http404("No such link.")
    return communication


def _user_agent(request) -> str:
    return request.headers.get("User-Agent", "")


@never_cache
@require_http_methods(["GET", "HEAD"])
def tracking_open(request, token: str):
    communication = _communication(tracking.open_token_id(token))
    if request.method == "GET":  # a HEAD is a program checking the link, not a reader
        tracking.tracking_open(communication=communication, user_agent=_user_agent(request))
    return HttpResponse(PIXEL, content_type="image/gif")


@never_cache
@require_http_methods(["GET", "HEAD"])
def tracking_click(request, token: str):
    target = tracking.click_token_target(token)
    communication = _communication(target[0] if target else None, "campaign__template", "template")
    url = target[1]
    # Only to a link the message carried: the redirect is never open to any URL.
    if not url.lower().startswith(("http://", "https://")) or url not in tracking.message_links(
        communication
    ):
        raise Http404("No such link.")
    if request.method == "GET":
        tracking.tracking_click(
            communication=communication, url=url, user_agent=_user_agent(request)
        )
    response = HttpResponseRedirect(url)
    response["Referrer-Policy"] = "no-referrer"
    return response


@csrf_exempt  # the signed token is the credential; RFC 8058 one-click POSTs carry no CSRF token
@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str):
    """GET shows a confirmation page and changes nothing (mail scanners fetch every link); POST
    (the page's button, or a mail client's one-click POST) unsubscribes."""
    communication = _communication(tracking.unsubscribe_token_id(token))
    context = {
        "shop_name": settings.CRM_NAME,
        "channel_name": "text messages" if communication.channel == Channel.SMS else "emails",
    }
    if request.method == "POST":
        tracking.communication_unsubscribe(
            communication=communication, user_agent=_user_agent(request)
        )
        response = render(request, "communications/unsubscribe_done.html", context)
    else:
        response = render(request, "communications/unsubscribe.html", context)
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Referrer-Policy"] = "no-referrer"
    return response


def _secret_ok(request) -> bool:
    secret = settings.CRM_SMS_WEBHOOK_SECRET
    given = request.headers.get("Authorization", "")
    if not secret or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given[len("Bearer ") :].encode(), secret.encode())


@csrf_exempt  # a provider's server calls it, authenticated by the shared secret
@require_POST
def sms_inbound(request):
    """An SMS reply from the provider: JSON {"from", "body", "id"}."""
    if not _secret_ok(request):
        if not settings.CRM_SMS_WEBHOOK_SECRET:
            logger.warning("SMS reply refused: CRM_SMS_WEBHOOK_SECRET is not set.")
        return JsonResponse({"error": "Wrong or missing shared secret."}, status=403)
    try:
        data = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "The body is not JSON."}, status=400)
    if not isinstance(data, dict):
        return JsonResponse({"error": "The body is not a JSON object."}, status=400)
    sender, body, provider_id = data.get("from"), data.get("body", ""), data.get("id", "")
    if not isinstance(sender, str) or not sender.strip():
        return JsonResponse({"error": "from: the sender's number is missing."}, status=400)
    if not isinstance(body, str):
        return JsonResponse({"error": "body: must be text."}, status=400)
    if not isinstance(provider_id, (str, int)):
        return JsonResponse({"error": "id: must be text."}, status=400)
    inbound = tracking.sms_inbound_receive(
        sender=sender.strip(), body=body, provider_id=str(provider_id)
    )
    return JsonResponse({"recorded": inbound is not None})


urlpatterns = [
    path("t/open/<str:token>/", tracking_open, name="tracking_open"),
    path("t/click/<str:token>/", tracking_click, name="tracking_click"),
    path("unsubscribe/<str:token>/", unsubscribe, name="unsubscribe"),
    path("sms/inbound/", sms_inbound, name="sms_inbound"),
]
