"""SMS backends: the console (development: prints each message) and a generic HTTP provider
(settings CRM_SMS_HTTP_URL, CRM_SMS_HTTP_TOKEN, CRM_SMS_HTTP_ID_FIELD, CRM_SMS_HTTP_TIMEOUT)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid

from django.conf import settings

from communications.backends import Backend, OutgoingMessage, SendResult


class ConsoleSmsBackend(Backend):
    """Writes each SMS to standard output, as Django's console email backend does."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        results = []
        for message in messages:
            provider_id = f"console-{uuid.uuid4().hex}"
            self.stream.write(f"SMS to {message.to} ({provider_id}):\n{message.text}\n{'-' * 40}\n")
            results.append(
                SendResult(
                    communication_id=message.communication_id,
                    ok=True,
                    provider_message_id=provider_id,
                )
            )
        self.stream.flush()
        return results


class HttpSmsBackend(Backend):
    """POSTs {"to": ..., "body": ...} as JSON to the provider, with "Authorization: Bearer
    <token>"; a 2xx reply is sent, its JSON's id field (CRM_SMS_HTTP_ID_FIELD) the provider's id.
    A 5xx, 408 or 429 reply, a timeout or a connection error is temporary; another 4xx is
    permanent."""

    def __init__(self, *, url: str = "", token: str = "", timeout: float | None = None):
        self.url = url or settings.CRM_SMS_HTTP_URL
        self.token = token or settings.CRM_SMS_HTTP_TOKEN
        self.timeout = timeout or settings.CRM_SMS_HTTP_TIMEOUT
        self.id_field = settings.CRM_SMS_HTTP_ID_FIELD

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        return [self._send_one(message) for message in messages]

    def _send_one(self, message: OutgoingMessage) -> SendResult:
        payload = json.dumps({"to": message.to, "body": message.text}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        # The URL is the operator's setting, checked to be http(s) when the settings load.
        request = urllib.request.Request(  # noqa: S310
            self.url, data=payload, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                reply = response.read()
        except urllib.error.HTTPError as error:
            detail = error.read()[:500].decode("utf-8", "replace")
            temporary = error.code >= 500 or error.code in (408, 429)
            return self._failed(message, f"HTTP {error.code}: {detail}", temporary=temporary)
        except TimeoutError:
            return self._failed(message, "The provider did not answer in time.", temporary=True)
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            return self._failed(message, f"Could not reach the provider: {reason}", temporary=True)
        provider_id = ""
        try:
            data = json.loads(reply or b"{}")
            if isinstance(data, dict):
                provider_id = str(data.get(self.id_field) or "")
        except ValueError:
            pass
        return SendResult(
            communication_id=message.communication_id,
            ok=True,
            provider_message_id=provider_id[:200],
        )

    @staticmethod
    def _failed(message: OutgoingMessage, error: str, *, temporary: bool) -> SendResult:
        return SendResult(
            communication_id=message.communication_id,
            ok=False,
            error=error[:2000],
            temporary=temporary,
        )
