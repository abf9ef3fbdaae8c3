"""Email through Django's email framework: the connection EMAIL_URL configures (SMTP in
production, the console in development), opened once per batch."""

from __future__ import annotations

import contextlib
import smtplib
from email.utils import make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.utils import DNS_NAME

from communications.backends import Backend, OutgoingMessage, SendResult


def _smtp_code_result(message: OutgoingMessage, code: int, text) -> SendResult:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return SendResult(
        communication_id=message.communication_id,
        ok=False,
        error=f"SMTP {code}: {text}"[:2000],
        # 4xx: the server asks to try later; 5xx: it refuses for good. A code outside SMTP's
        # (-1 from a broken greeting) is the connection's fault.
        temporary=not 500 <= code < 600,
    )


class EmailBackend(Backend):
    def __init__(self, connection=None):
        self.connection = connection

    def send(self, messages: list[OutgoingMessage]) -> list[SendResult]:
        connection = self.connection or get_connection(fail_silently=False)
        results: list[SendResult] = []
        try:
            connection.open()
        except (smtplib.SMTPException, OSError) as error:
            return [_temporary(message, f"Could not connect: {error}") for message in messages]
        try:
            for index, message in enumerate(messages):
                result = self._send_one(connection, message)
                results.append(result)
                if result.temporary and result.error.startswith("Connection lost"):
                    # The rest were not handed over; try them later on a new connection.
                    results.extend(
                        _temporary(rest, "Not sent: the connection was lost.")
                        for rest in messages[index + 1 :]
                    )
                    break
        finally:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                connection.close()
        return results

    def _send_one(self, connection, message: OutgoingMessage) -> SendResult:
        headers = dict(message.headers)
        # The id is set here, not by Django, so the result can name it as the provider's id.
        headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
            headers=headers,
            connection=connection,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        message_id = headers["Message-ID"]
        try:
            sent = connection.send_messages([email])
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()), (550, "recipient refused"))
            return _smtp_code_result(message, code, text)
        except smtplib.SMTPResponseException as error:
            return _smtp_code_result(message, error.smtp_code, error.smtp_error)
        except smtplib.SMTPServerDisconnected as error:
            return _temporary(message, f"Connection lost: {error}")
        except smtplib.SMTPException as error:  # a subclass of OSError: before it
            return _temporary(message, f"SMTP error: {error}")
        except OSError as error:
            return _temporary(message, f"Connection lost: {error}")
        if not sent:
            return SendResult(
                communication_id=message.communication_id,
                ok=False,
                error="The email backend did not send it (no valid recipient).",
            )
        return SendResult(
            communication_id=message.communication_id, ok=True, provider_message_id=message_id
        )


def _temporary(message: OutgoingMessage, error: str) -> SendResult:
    return SendResult(
        communication_id=message.communication_id, ok=False, error=error[:2000], temporary=True
    )
