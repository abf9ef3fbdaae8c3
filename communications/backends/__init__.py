"""The backends that hand messages to a channel: email through Django's email framework
(EMAIL_URL), SMS through the backend SMS_BACKEND names (console or http).

A backend sends a batch and answers one SendResult per message, in order, never raising for a
message's failure: ``ok`` with the provider's id, or the error and whether it is ``temporary``
(worth trying again later: a connection lost, a 4xx SMTP reply, an HTTP 5xx or timeout) or
permanent (a 5xx SMTP reply, an HTTP 4xx).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass
class OutgoingMessage:
    communication_id: int
    to: str
    subject: str
    text: str
    html: str = ""
    headers: dict = field(default_factory=dict)


@dataclass
class SendResult:
    communication_id: int
    ok: bool
    provider_message_id: str = ""
    error: str = ""
    temporary: bool = False


class Backend:
    """Sends a batch of messages; one result per message, in the same order."""

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        raise NotImplementedError


SMS_BACKENDS = {
    "console": "communications.backends.sms.ConsoleSmsBackend",
    "http": "communications.backends.sms.HttpSmsBackend",
}


def backend_for(channel: str) -> Backend:
    """The backend of a channel ("email" or "sms"), as the settings choose it."""
    if channel == "email":
        from communications.backends.email import EmailBackend

        return EmailBackend()
    if channel == "sms":
        path = SMS_BACKENDS.get(settings.SMS_BACKEND, settings.SMS_BACKEND)
        return import_string(path)()
    raise ValueError(f"No backend sends on the channel {channel!r}.")
