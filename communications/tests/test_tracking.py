from datetime import timedelta

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from communications import tracking
from communications.models import Channel, Communication, Direction, TrackingEvent
from communications.tests.factories import CampaignFactory, CommunicationFactory
from customers.models import Customer
from customers.tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

Status = Communication.Status
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0 Safari/537.36"
)
LINK = "https://shop.example/sale?a=1&b=2"


@pytest.fixture
def sent_email(settings):
    settings.CRM_CLICK_GRACE_SECONDS = 10
    campaign = CampaignFactory()
    minute_ago = timezone.now() - timedelta(minutes=1)
    return CommunicationFactory(
        campaign=campaign,
        customer=CustomerFactory(accepts_email=True, accepts_sms=True),
        status=Status.SENT,
        sent_at=minute_ago,
        body=f"Hello Ana, our sale: {LINK}.\nBye",
    )


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


def _state(communication):
    communication.refresh_from_db()
    campaign = communication.campaign
    if campaign:
        campaign.refresh_from_db()
    return (
        communication.status,
        communication.opened_at,
        communication.clicked_at,
        TrackingEvent.objects.count(),
        campaign and (campaign.opened_count, campaign.clicked_count),
        Customer.objects.values_list("accepts_email", "accepts_sms").get(
            pk=communication.customer_id
        ),
    )


def test_the_open_pixel_moves_the_message_to_opened_and_counts_on_the_campaign(
    client, sent_email, assert_queries
):
    url = _path(tracking.open_url(sent_email.pk))

    with assert_queries(9):
        response = client.get(url, HTTP_USER_AGENT="GoogleImageProxy")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    sent_email.refresh_from_db()
    assert sent_email.status == Status.OPENED and sent_email.opened_at
    sent_email.campaign.refresh_from_db()
    assert (sent_email.campaign.delivered_count, sent_email.campaign.opened_count) == (1, 1)
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.counted, event.communication_id) == ("open", True, sent_email.pk)


def test_a_persons_click_moves_the_message_to_clicked_and_redirects(client, sent_email):
    assert tracking.links_in(sent_email.body) == [LINK]
    url = _path(tracking.click_url(sent_email.pk, LINK))

    response = client.get(url, HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 302
    assert response["Location"] == LINK
    sent_email.refresh_from_db()
    assert sent_email.status == Status.CLICKED
    sent_email.campaign.refresh_from_db()
    assert sent_email.campaign.clicked_count == 1
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.url, event.counted) == ("click", LINK, True)


@pytest.mark.parametrize(
    ("user_agent", "seconds_after_send"),
    [
        (BROWSER, 3),  # a scanner that looks like a browser, as the mail arrives
        ("python-requests/2.32", 600),
        ("curl/8.5.0", 600),
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", 600),
        ("", 600),
    ],
)
def test_scanner_clicks_are_recorded_but_not_counted(
    client, sent_email, user_agent, seconds_after_send
):
    sent_email.sent_at = timezone.now() - timedelta(seconds=seconds_after_send)
    sent_email.save(update_fields=["sent_at"])
    url = _path(tracking.click_url(sent_email.pk, LINK))

    response = client.get(url, HTTP_USER_AGENT=user_agent)

    assert response.status_code == 302  # the reader still gets where the link goes
    sent_email.refresh_from_db()
    assert sent_email.status == Status.SENT
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.counted) == ("click", False)
    sent_email.campaign.refresh_from_db()
    assert sent_email.campaign.clicked_count == 0


def test_a_head_request_follows_the_link_but_records_nothing(client, sent_email):
    before = _state(sent_email)

    click = client.head(_path(tracking.click_url(sent_email.pk, LINK)), HTTP_USER_AGENT=BROWSER)
    pixel = client.head(_path(tracking.open_url(sent_email.pk)), HTTP_USER_AGENT=BROWSER)

    assert (click.status_code, click["Location"], pixel.status_code) == (302, LINK, 200)
    assert _state(sent_email) == before


def test_the_grace_period_counts_from_the_delivery(client, sent_email):
    sent_email.delivered_at = timezone.now() - timedelta(seconds=2)
    sent_email.status = Status.DELIVERED
    sent_email.save(update_fields=["delivered_at", "status"])

    client.get(_path(tracking.click_url(sent_email.pk, LINK)), HTTP_USER_AGENT=BROWSER)

    assert TrackingEvent.objects.get().counted is False


def _tampered(token: str) -> str:
    value, signature = token.rsplit(":", 1)
    return f"{value}:{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"


@pytest.mark.parametrize("kind", ["open", "click", "unsubscribe"])
def test_tampered_tokens_get_404_and_change_nothing(client, sent_email, kind):
    before = _state(sent_email)
    good = {
        "open": tracking.open_url(sent_email.pk),
        "click": tracking.click_url(sent_email.pk, LINK),
        "unsubscribe": tracking.unsubscribe_url(sent_email.pk),
    }[kind]
    token = good.rstrip("/").rsplit("/", 1)[1]
    name = {"open": "tracking_open", "click": "tracking_click"}.get(kind, kind)
    other_salt = signing.Signer(salt="something else").sign_object(sent_email.pk)

    for bad in (_tampered(token), other_salt, "nonsense", token[:-3]):
        url = reverse(f"communications:{name}", args=[bad])
        assert client.get(url, HTTP_USER_AGENT=BROWSER).status_code == 404
        assert client.post(url, HTTP_USER_AGENT=BROWSER).status_code in (404, 405)

    assert _state(sent_email) == before


def test_a_token_of_a_message_that_does_not_exist_gets_404(client, sent_email):
    missing = sent_email.pk + 1000
    for url in (
        tracking.open_url(missing),
        tracking.click_url(missing, LINK),
        tracking.unsubscribe_url(missing),
    ):
        assert client.get(_path(url), HTTP_USER_AGENT=BROWSER).status_code == 404
    assert TrackingEvent.objects.count() == 0


def test_the_click_redirect_is_not_an_open_redirect(client, sent_email):
    before = _state(sent_email)
    # A well-signed link to somewhere the message never pointed (another message's token, or a
    # URL changed in the token) is refused like a forged one.
    for elsewhere in (
        "https://evil.example/phish",
        "https://shop.example/sale",
        LINK + "&next=https://evil.example",
        "javascript:alert(1)",
        "//evil.example",
    ):
        response = client.get(
            _path(tracking.click_url(sent_email.pk, elsewhere)), HTTP_USER_AGENT=BROWSER
        )
        assert response.status_code == 404
    # A link of another message is not a link of this one.
    other = CommunicationFactory(status=Status.SENT, body="See https://other.example/x")
    response = client.get(
        _path(tracking.click_url(sent_email.pk, "https://other.example/x")),
        HTTP_USER_AGENT=BROWSER,
    )
    assert response.status_code == 404
    assert _state(sent_email) == before
    assert other.pk


def test_a_message_whose_text_was_not_kept_is_checked_against_its_campaigns_body(
    client, sent_email
):
    sent_email.body = ""
    sent_email.save(update_fields=["body"])
    campaign = sent_email.campaign
    campaign.body = "Hi {{ customer.first_name }}, see https://shop.example/new"
    campaign.save(update_fields=["body"])

    ok = client.get(
        _path(tracking.click_url(sent_email.pk, "https://shop.example/new")),
        HTTP_USER_AGENT=BROWSER,
    )
    refused = client.get(_path(tracking.click_url(sent_email.pk, LINK)), HTTP_USER_AGENT=BROWSER)

    assert (ok.status_code, refused.status_code) == (302, 404)


def test_unsubscribe_get_only_shows_the_confirmation(client, sent_email):
    before = _state(sent_email)

    response = client.get(_path(tracking.unsubscribe_url(sent_email.pk)))

    assert response.status_code == 200
    assert b"Press the button to stop receiving emails" in response.content
    assert _state(sent_email) == before
    customer = sent_email.customer
    for private in (customer.first_name, customer.last_name, customer.email):
        assert private.encode() not in response.content


def test_unsubscribe_by_the_pages_button_without_a_login_or_csrf_token(sent_email):
    client = Client(enforce_csrf_checks=True)

    response = client.post(_path(tracking.unsubscribe_url(sent_email.pk)), HTTP_USER_AGENT=BROWSER)

    assert response.status_code == 200
    assert b"You are unsubscribed" in response.content
    customer = Customer.objects.get(pk=sent_email.customer_id)
    assert (customer.accepts_email, customer.accepts_sms) == (False, True)
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.communication_id) == ("unsubscribe", sent_email.pk)
    # Again: still unsubscribed, nothing more recorded.
    assert client.post(_path(tracking.unsubscribe_url(sent_email.pk))).status_code == 200
    assert TrackingEvent.objects.count() == 1


def test_rfc_8058_one_click_unsubscribe(sent_email):
    client = Client(enforce_csrf_checks=True)

    response = client.post(
        _path(tracking.unsubscribe_url(sent_email.pk)),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="Google-Mail-Unsubscribe",
    )

    assert response.status_code == 200
    assert Customer.objects.get(pk=sent_email.customer_id).accepts_email is False
    assert TrackingEvent.objects.get().kind == "unsubscribe"


def test_unsubscribing_from_an_sms_turns_sms_off(client):
    message = CommunicationFactory(
        channel=Channel.SMS,
        status=Status.SENT,
        customer=CustomerFactory(accepts_email=True, accepts_sms=True),
    )

    response = client.post(_path(tracking.unsubscribe_url(message.pk)))

    assert b"text messages" in response.content
    customer = Customer.objects.get(pk=message.customer_id)
    assert (customer.accepts_email, customer.accepts_sms) == (True, False)


# --- The SMS webhook ---------------------------------------------------------------------------

SECRET = "webhook-secret-123"


@pytest.fixture
def webhook(settings):
    settings.CRM_SMS_WEBHOOK_SECRET = SECRET
    client = Client(enforce_csrf_checks=True)

    def post(payload, secret=SECRET):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret is not None else {}
        return client.post(
            reverse("communications:sms_inbound"),
            data=payload,
            content_type="application/json",
            **headers,
        )

    return post


@pytest.fixture
def texted():
    customer = CustomerFactory(phone="+14155550123", accepts_sms=True, accepts_email=True)
    earlier = CommunicationFactory(
        customer=customer,
        channel=Channel.SMS,
        status=Status.DELIVERED,
        occurred_at=timezone.now() - timedelta(days=3),
    )
    last = CommunicationFactory(
        customer=customer, channel=Channel.SMS, status=Status.SENT, campaign=CampaignFactory()
    )
    return customer, earlier, last


@pytest.mark.parametrize("secret", ["wrong", "", None, SECRET + "x", SECRET[:-1]])
def test_the_webhook_refuses_a_wrong_or_missing_secret(webhook, texted, secret):
    response = webhook({"from": "+14155550123", "body": "STOP", "id": "m1"}, secret=secret)

    assert response.status_code == 403
    assert Communication.objects.filter(direction=Direction.INBOUND).count() == 0
    assert Customer.objects.get(pk=texted[0].pk).accepts_sms is True


def test_the_webhook_is_closed_while_no_secret_is_set(webhook, settings, texted):
    settings.CRM_SMS_WEBHOOK_SECRET = ""

    assert webhook({"from": "+14155550123", "body": "hi"}, secret="").status_code == 403


def test_a_reply_is_recorded_and_the_last_sms_moves_to_replied(webhook, texted):
    customer, earlier, last = texted

    response = webhook({"from": "(415) 555-0123", "body": "Is the sale on Sunday?", "id": "m1"})

    assert response.status_code == 200
    assert response.json() == {"recorded": True}
    inbound = Communication.objects.get(direction=Direction.INBOUND)
    assert (inbound.customer_id, inbound.channel, inbound.body, inbound.provider_message_id) == (
        customer.pk,
        "sms",
        "Is the sale on Sunday?",
        "m1",
    )
    last.refresh_from_db()
    earlier.refresh_from_db()
    assert (last.status, earlier.status) == (Status.REPLIED, Status.DELIVERED)
    assert last.replied_at is not None
    assert Customer.objects.get(pk=customer.pk).accepts_sms is True
    # The provider sends the same reply again: nothing more is recorded.
    assert webhook({"from": "+14155550123", "body": "Is the sale on Sunday?", "id": "m1"}).json()
    assert Communication.objects.filter(direction=Direction.INBOUND).count() == 1


@pytest.mark.parametrize(
    "body",
    ["STOP", "stop", " Stop! ", "STOPALL", "unsubscribe", "Cancel.", "END", "quit", "*STOP*"],
)
def test_stop_and_its_variants_turn_sms_off(webhook, texted, body):
    customer, _earlier, last = texted

    assert webhook({"from": "+14155550123", "body": body, "id": "m2"}).status_code == 200

    customer.refresh_from_db()
    assert (customer.accepts_sms, customer.accepts_email) == (False, True)
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.communication_id) == ("unsubscribe", last.pk)


@pytest.mark.parametrize("body", ["Stop by tomorrow?", "don't stop", "STOPPED", "the end"])
def test_a_reply_that_only_mentions_stop_changes_no_consent(webhook, texted, body):
    webhook({"from": "+14155550123", "body": body, "id": "m3"})

    assert Customer.objects.get(pk=texted[0].pk).accepts_sms is True
    assert TrackingEvent.objects.count() == 0


def test_a_reply_from_an_unknown_number_writes_nothing(webhook, texted, caplog):
    before = Communication.objects.count()

    response = webhook({"from": "+14155559999", "body": "STOP", "id": "m4"})

    assert (response.status_code, response.json()) == (200, {"recorded": False})
    assert Communication.objects.count() == before
    assert TrackingEvent.objects.count() == 0
    assert "unknown number" in caplog.text


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "The body is not JSON."),
        ([1, 2], "The body is not a JSON object."),
        ({"body": "hi"}, "from: the sender's number is missing."),
        ({"from": "+14155550123", "body": 5}, "body: must be text."),
    ],
)
def test_a_malformed_reply_gets_400_naming_the_field(webhook, payload, message):
    response = webhook(payload)

    assert (response.status_code, response.json()) == (400, {"error": message})


def test_the_webhook_takes_post_only(client):
    assert client.get(reverse("communications:sms_inbound")).status_code == 405
