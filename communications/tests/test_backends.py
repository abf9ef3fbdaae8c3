import email
import io
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from communications.backends import OutgoingMessage, backend_for
from communications.backends.email import EmailBackend
from communications.backends.sms import ConsoleSmsBackend, HttpSmsBackend
from communications.tracking import email_parts


class Mailbox:
    """An aiosmtpd handler that keeps what it receives and refuses some recipients: those whose
    address starts with "later" get 451 (try again), "never" get 550 (no such mailbox), "drop"
    has the connection closed on it."""

    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("later"):
            return "451 4.3.0 Mailbox busy, try again later"
        if address.startswith("never"):
            return "550 5.1.1 No such mailbox"
        if address.startswith("drop"):
            server.transport.close()
            return "250 OK"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            (envelope.rcpt_tos, email.message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 Message accepted"


def _free_port() -> int:
    """A port nothing listens on (the probe socket is closed on return)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    yield mailbox
    controller.stop()


def _email(communication_id, to, text="Hello, see https://shop.example/sale?a=1&b=2 today."):
    parts = email_parts(communication_id=communication_id, subject="Spring sale", text=text)
    return OutgoingMessage(
        communication_id=communication_id,
        to=to,
        subject=parts.subject,
        text=parts.text,
        html=parts.html,
        headers=parts.headers,
    )


def test_email_goes_over_smtp_with_the_unsubscribe_headers_and_tracked_html(smtp_server, settings):
    settings.CRM_PUBLIC_URL = "https://crm.example.com"
    settings.CRM_UNSUBSCRIBE_MAILTO = "unsubscribe@shop.example"
    settings.DEFAULT_FROM_EMAIL = "Shop <news@shop.example>"

    results = backend_for("email").send([_email(7, "ana@example.com")])

    assert [(r.communication_id, r.ok, r.error) for r in results] == [(7, True, "")]
    [(recipients, message)] = smtp_server.messages
    assert recipients == ["ana@example.com"]
    assert message["Subject"] == "Spring sale"
    assert message["From"] == "Shop <news@shop.example>"
    assert message["Message-ID"] == results[0].provider_message_id
    unsubscribe = message["List-Unsubscribe"].strip()  # folded onto its own line when long
    assert unsubscribe.startswith("<https://crm.example.com/communications/unsubscribe/")
    assert "<mailto:unsubscribe@shop.example?subject=unsubscribe%20" in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "https://shop.example/sale?a=1&b=2" in text
    assert "To unsubscribe: https://crm.example.com/communications/unsubscribe/" in text
    assert 'href="https://crm.example.com/communications/t/click/' in html
    assert 'href="https://shop.example/sale' not in html
    assert '<img src="https://crm.example.com/communications/t/open/' in html
    assert ">Unsubscribe</a>" in html


def test_smtp_4xx_is_temporary_5xx_permanent_and_the_rest_of_the_batch_goes(smtp_server):
    results = EmailBackend().send(
        [_email(1, "later@example.com"), _email(2, "never@example.com"), _email(3, "ok@ex.com")]
    )

    assert [(r.ok, r.temporary) for r in results] == [(False, True), (False, False), (True, False)]
    assert results[0].error.startswith("SMTP 451")
    assert results[1].error.startswith("SMTP 550")
    assert [recipients for recipients, _ in smtp_server.messages] == [["ok@ex.com"]]


def test_a_connection_lost_mid_batch_leaves_the_rest_for_later(smtp_server):
    results = EmailBackend().send(
        [_email(1, "a@ex.com"), _email(2, "drop@ex.com"), _email(3, "b@ex.com")]
    )

    assert [(r.ok, r.temporary) for r in results] == [(True, False), (False, True), (False, True)]
    assert results[1].error.startswith("Connection lost")
    assert results[2].error == "Not sent: the connection was lost."
    assert [recipients for recipients, _ in smtp_server.messages] == [["a@ex.com"]]


def test_no_smtp_server_is_a_temporary_failure_of_every_message(settings):
    port = _free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False

    results = EmailBackend().send([_email(1, "a@example.com"), _email(2, "b@example.com")])

    assert [(r.ok, r.temporary) for r in results] == [(False, True), (False, True)]
    assert results[0].error.startswith("Could not connect")


def test_email_in_development_goes_to_the_console(settings, capsys):
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

    [result] = EmailBackend().send([_email(5, "ana@example.com")])

    assert result.ok
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in capsys.readouterr().out


class Provider(BaseHTTPRequestHandler):
    """An SMS provider: +1555000 numbers are accepted, +1555400 refused (400), +1555500 get a
    server error (503), +1555999 an answer too late."""

    received: list = []
    release = threading.Event()

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.headers["Authorization"], payload))
        status, reply = {
            "+1555000": (200, {"id": f"prov-{len(self.received)}", "status": "queued"}),
            "+1555400": (400, {"error": "invalid number"}),
            "+1555500": (503, {"error": "down"}),
        }.get(payload["to"][:8], (200, {}))
        if payload["to"].startswith("+1555999"):
            self.release.wait(5)
        body = json.dumps(reply).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up waiting
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def provider():
    Provider.received = []
    Provider.release = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/messages"
    Provider.release.set()
    server.shutdown()
    server.server_close()


def _sms(communication_id, to):
    return OutgoingMessage(communication_id=communication_id, to=to, subject="", text="Hi €5")


def test_the_http_sms_backend_posts_json_and_reads_the_providers_id(provider, settings):
    settings.SMS_BACKEND = "http"
    settings.CRM_SMS_HTTP_URL = provider
    settings.CRM_SMS_HTTP_TOKEN = "s3cret"

    results = backend_for("sms").send([_sms(1, "+15550001111"), _sms(2, "+15550002222")])

    assert [(r.communication_id, r.ok, r.provider_message_id) for r in results] == [
        (1, True, "prov-1"),
        (2, True, "prov-2"),
    ]
    assert Provider.received[0] == ("Bearer s3cret", {"to": "+15550001111", "body": "Hi €5"})


def test_the_http_sms_backend_4xx_is_permanent_5xx_and_timeout_temporary(provider):
    backend = HttpSmsBackend(url=provider, token="t", timeout=0.3)

    refused, down, slow = backend.send(
        [_sms(1, "+15554001111"), _sms(2, "+15555001111"), _sms(3, "+15559991111")]
    )

    assert (refused.ok, refused.temporary) == (False, False)
    assert refused.error.startswith("HTTP 400")
    assert (down.ok, down.temporary) == (False, True)
    assert down.error.startswith("HTTP 503")
    assert (slow.ok, slow.temporary) == (False, True)


def test_an_unreachable_provider_is_temporary():
    port = _free_port()

    [result] = HttpSmsBackend(url=f"http://127.0.0.1:{port}/", timeout=1).send([_sms(1, "+1")])

    assert (result.ok, result.temporary) == (False, True)


def test_the_console_sms_backend_prints_each_message(settings):
    settings.SMS_BACKEND = "console"
    stream = io.StringIO()

    [result] = ConsoleSmsBackend(stream=stream).send([_sms(4, "+15550001111")])

    assert result.ok and result.provider_message_id.startswith("console-")
    assert "SMS to +15550001111" in stream.getvalue() and "Hi €5" in stream.getvalue()
    assert isinstance(backend_for("sms"), ConsoleSmsBackend)
