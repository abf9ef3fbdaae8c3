"""The links in sent messages, and what happens when they are followed.

Every link carries a token signed with the secret key (django.core.signing, one salt per kind),
so a link cannot be made up or changed: a tampered or unknown token gets 404 and changes
nothing. The tokens do not expire: an unsubscribe link works for as long as the mail is kept.

- the open pixel (an email's 1x1 image) moves the message to opened;
- a click redirect moves it to clicked and sends the reader on, only to a URL that is in that
  message's text (it cannot be used as an open redirect);
- the unsubscribe link shows a confirmation page on GET (mail scanners fetch every link) and
  unsubscribes on POST: the page's button or the RFC 8058 one-click POST of List-Unsubscribe.

Every open and click is kept as a TrackingEvent. A click from something that is not a browser,
or within CRM_CLICK_GRACE_SECONDS of the send or delivery (a mail scanner following every link
as the mail arrives), is kept with counted=False and does not move the message.

The services here (``tracking_open``, ``tracking_click``, ``communication_unsubscribe``,
``sms_inbound_receive``) are the writes of the public views; statuses move through
communications.services.communication_advance.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import make_msgid
from urllib.parse import quote

import phonenumbers
from django.conf import settings
from django.core import signing
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from communications.models import Channel, Communication, Direction, Purpose, TrackingEvent
from communications.services import communication_advance

logger = logging.getLogger(__name__)

Status = Communication.Status

OPEN_SALT = "communications.tracking.open"
CLICK_SALT = "communications.tracking.click"
UNSUBSCRIBE_SALT = "communications.tracking.unsubscribe"

# A link in a message's text: http(s) up to a space or a character that cannot end a URL.
LINK = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}*"


# --- Tokens and links --------------------------------------------------------------------------


def _absolute(path: str) -> str:
    return settings.CRM_PUBLIC_URL + path


def _token(value, salt: str, *, compress: bool = False) -> str:
    # No timestamp (signing.dumps would add one): the links never expire, and stay short.
    return signing.Signer(salt=salt).sign_object(value, compress=compress)


def _read(token: str, salt: str):
    """The value a token was signed with, or None when it was tampered with."""
    try:
        return signing.Signer(salt=salt).unsign_object(token)
    except (signing.BadSignature, ValueError, TypeError, UnicodeDecodeError):
        return None


def open_url(communication_id: int) -> str:
    token = _token(communication_id, OPEN_SALT)
    return _absolute(reverse("communications:tracking_open", args=[token]))


def click_url(communication_id: int, url: str) -> str:
    token = _token([communication_id, url], CLICK_SALT, compress=True)
    return _absolute(reverse("communications:tracking_click", args=[token]))


def unsubscribe_url(communication_id: int) -> str:
    """The message's signed unsubscribe page, absolute (settings.CRM_PUBLIC_URL)."""
    token = _token(communication_id, UNSUBSCRIBE_SALT)
    return _absolute(reverse("communications:unsubscribe", args=[token]))


def open_token_id(token: str) -> int | None:
    value = _read(token, OPEN_SALT)
    return value if isinstance(value, int) else None


def click_token_target(token: str) -> tuple[int, str] | None:
    value = _read(token, CLICK_SALT)
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], int)
        and isinstance(value[1], str)
    ):
        return value[0], value[1]
    return None


def unsubscribe_token_id(token: str) -> int | None:
    value = _read(token, UNSUBSCRIBE_SALT)
    return value if isinstance(value, int) else None


def links_in(text: str) -> list[str]:
    """The http(s) links of a message's text, in order, without the punctuation after them."""
    links = []
    for match in LINK.finditer(text or ""):
        links.append(_trim(match.group()))
    return links


def _trim(url: str) -> str:
    while url and url[-1] in TRAILING:
        # A closing parenthesis that has its opening one in the URL belongs to it.
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


# --- Email ---------------------------------------------------------------------------------------


@dataclass
class EmailParts:
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


def email_parts(*, communication_id: int, subject: str, text: str) -> EmailParts:
    """An email ready for the backend, from its rendered subject and text: the text with an
    unsubscribe line at its foot; the HTML (the text escaped, its links turned into signed click
    redirects, an unsubscribe link and the open pixel at the foot); the headers List-Unsubscribe
    (the https link, and a mailto when CRM_UNSUBSCRIBE_MAILTO is set), List-Unsubscribe-Post
    (RFC 8058 one-click) and Message-ID."""
    unsubscribe = unsubscribe_url(communication_id)
    own_links = settings.CRM_PUBLIC_URL + "/"
    html_parts, position = [], 0
    for match in LINK.finditer(text):
        url = _trim(match.group())
        end = match.start() + len(url)
        html_parts.append(escape(text[position : match.start()]))
        # The CRM's own links (the unsubscribe page written into the body) are not redirected.
        target = url if url.startswith(own_links) else click_url(communication_id, url)
        html_parts.append(f'<a href="{escape(target)}">{escape(url)}</a>')
        position = end
    html_parts.append(escape(text[position:]))
    body_html = "".join(html_parts)
    paragraphs = "".join(
        f"<p>{paragraph.strip().replace(chr(10), '<br>')}</p>"
        for paragraph in re.split(r"\n\s*\n", body_html)
        if paragraph.strip()
    )
    shop = escape(settings.CRM_NAME)
    html = (
        '<!doctype html><html><head><meta charset="utf-8"></head><body>'
        f"{paragraphs}"
        '<p style="font-size:12px;color:#555">'
        f'You receive this from {shop}. <a href="{escape(unsubscribe)}">Unsubscribe</a></p>'
        f'<img src="{escape(open_url(communication_id))}" width="1" height="1" alt="">'
        "</body></html>"
    )
    footer = f"\n\n--\nTo unsubscribe: {unsubscribe}" if unsubscribe not in text else ""
    unsubscribe_targets = [f"<{unsubscribe}>"]
    if settings.CRM_UNSUBSCRIBE_MAILTO:
        token = unsubscribe.rstrip("/").rsplit("/", 1)[-1]
        unsubscribe_targets.append(
            f"<mailto:{settings.CRM_UNSUBSCRIBE_MAILTO}?subject={quote('unsubscribe ' + token)}>"
        )
    domain = settings.CRM_PUBLIC_URL.split("://", 1)[1].split("/")[0].split(":")[0]
    headers = {
        "List-Unsubscribe": ", ".join(unsubscribe_targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Message-ID": make_msgid(idstring=f"c{communication_id}", domain=domain),
    }
    return EmailParts(subject=subject, text=text + footer, html=html, headers=headers)


# --- What readers do -----------------------------------------------------------------------------

# What a browser's user agent says and a fetching program's does not; and the words of programs
# that call themselves Mozilla.
_BROWSER = re.compile(r"^Mozilla/\d")
_NOT_BROWSER = re.compile(
    r"bot|crawl|spider|slurp|preview|scan|fetch|proxy|python|curl|wget|java/|go-http|okhttp|"
    r"headless|phantom|libwww|httpclient|safelinks|mimecast|proofpoint|barracuda",
    re.IGNORECASE,
)


def is_browser(user_agent: str) -> bool:
    """Whether a request's user agent is a person's browser (not a scanner, a link preview or
    a program)."""
    return bool(_BROWSER.match(user_agent or "")) and not _NOT_BROWSER.search(user_agent)


def message_links(communication: Communication) -> set[str]:
    """The links a message carried: those of the text it was sent with (its body), or, when the
    body was not kept, of its campaign's or template's body."""
    text = communication.body
    if not text and communication.campaign_id:
        campaign = communication.campaign
        text = campaign.body or (campaign.template.body if campaign.template_id else "")
    if not text and communication.template_id:
        text = communication.template.body
    return set(links_in(text))


def tracking_open(*, communication: Communication, user_agent: str = "") -> TrackingEvent:
    """Record an open (the pixel was fetched) and move the message to opened."""
    with transaction.atomic():
        event = TrackingEvent.objects.create(
            communication=communication,
            kind=TrackingEvent.Kind.OPEN,
            user_agent=user_agent[:500],
        )
        communication_advance(communication=communication, status=Status.OPENED)
    return event


def tracking_click(*, communication: Communication, url: str, user_agent: str = "") -> bool:
    """Record a click on ``url``; a person's click (a browser, after the grace period) moves the
    message to clicked. Returns whether the click counted."""
    now = timezone.now()
    reference = (
        communication.delivered_at
        or communication.sent_at
        or communication.claimed_at
        or communication.queued_at
    )
    grace = timedelta(seconds=settings.CRM_CLICK_GRACE_SECONDS)
    counted = is_browser(user_agent) and not (reference and now - reference <= grace)
    with transaction.atomic():
        TrackingEvent.objects.create(
            communication=communication,
            kind=TrackingEvent.Kind.CLICK,
            url=url[:2000],
            user_agent=user_agent[:500],
            counted=counted,
        )
        if counted:
            communication_advance(communication=communication, status=Status.CLICKED, at=now)
    return counted


CONSENT_FIELD = {Channel.EMAIL: "accepts_email", Channel.SMS: "accepts_sms"}


def _consent_off(customer_ids: list[int], channel: str) -> int:
    from customers.models import Customer

    consent = CONSENT_FIELD[channel]
    return Customer.objects.filter(pk__in=customer_ids, **{consent: True}).update(
        **{consent: False, "updated_at": timezone.now()}
    )


def communication_unsubscribe(*, communication: Communication, user_agent: str = "") -> bool:
    """Turn off the customer's consent for the message's channel (accepts_email for an email,
    accepts_sms for an SMS) and record an unsubscribe event on the message. Safe to repeat:
    a second request records nothing. Returns whether anything changed."""
    channel = communication.channel if communication.channel in CONSENT_FIELD else Channel.EMAIL
    with transaction.atomic():
        changed = _consent_off([communication.customer_id], channel)
        already = TrackingEvent.objects.filter(
            communication=communication, kind=TrackingEvent.Kind.UNSUBSCRIBE
        ).exists()
        if not already:
            TrackingEvent.objects.create(
                communication=communication,
                kind=TrackingEvent.Kind.UNSUBSCRIBE,
                user_agent=user_agent[:500],
            )
    return bool(changed) or not already


# --- SMS replies ---------------------------------------------------------------------------------

STOP_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})


def is_stop(body: str) -> bool:
    """Whether an SMS reply asks to stop: one of the stop words, in any case, with spaces and
    punctuation around it ("stop", " Stop! ", "STOP.")."""
    return re.sub(r"[\W_]+", "", body or "").upper() in STOP_WORDS


def phone_e164(number: str) -> str:
    """The number in E.164 as customers' phones are stored, or "" when it is not a number."""
    try:
        parsed = phonenumbers.parse(number or "", settings.PHONENUMBER_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_possible_number(parsed):
        return ""
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def sms_inbound_receive(*, sender: str, body: str, provider_id: str = "") -> Communication | None:
    """Record an SMS reply from ``sender``: an inbound Communication for the customer with that
    number (the one most recently sent an SMS when several share it), the customer's last
    outbound SMS moved to replied, and for STOP and its variants accepts_sms turned off for every
    customer with that number, with an unsubscribe event. A provider's retry of the same message
    id records nothing more. Returns None, having written nothing, for an unknown number."""
    from customers.models import Customer

    number = phone_e164(sender)
    customer_ids = (
        list(Customer.objects.filter(phone=number).order_by("pk").values_list("pk", flat=True))
        if number
        else []
    )
    if not customer_ids:
        logger.info("SMS reply from an unknown number %r: nothing recorded.", sender)
        return None
    outbound = SMS_OUTBOUND.filter(customer_id__in=customer_ids).order_by("-occurred_at", "-id")
    with transaction.atomic():
        if provider_id:
            existing = Communication.objects.filter(
                channel=Channel.SMS, direction=Direction.INBOUND, provider_message_id=provider_id
            ).first()
            if existing is not None:
                return existing
        last_sent = outbound.first()
        customer_id = last_sent.customer_id if last_sent else customer_ids[0]
        now = timezone.now()
        stop = is_stop(body)
        inbound = Communication.objects.create(
            customer_id=customer_id,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            purpose=last_sent.purpose if last_sent else Purpose.SUPPORT,
            body=body[:5000],
            status=Status.DELIVERED,
            queued_at=now,
            delivered_at=now,
            occurred_at=now,
            recipient=number,
            provider_message_id=provider_id[:200],
            campaign=None,
            metadata={"stop": True} if stop else {},
        )
        if last_sent is not None:
            communication_advance(communication=last_sent, status=Status.REPLIED, at=now)
        if stop:
            _consent_off(customer_ids, Channel.SMS)
            TrackingEvent.objects.create(
                communication=last_sent or inbound,
                kind=TrackingEvent.Kind.UNSUBSCRIBE,
                user_agent="SMS reply",
            )
    return inbound


# The SMS a reply can answer: outbound ones that went out.
SMS_OUTBOUND = Communication.objects.filter(
    channel=Channel.SMS,
    direction=Direction.OUTBOUND,
    status__in=(Status.SENT, Status.DELIVERED, Status.OPENED, Status.CLICKED, Status.REPLIED),
)
