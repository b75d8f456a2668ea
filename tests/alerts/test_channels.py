"""The notification channels against real local receivers: a webhook receiver that
verifies signatures with the ``standardwebhooks`` package, aiosmtpd (plain and with
STARTTLS), and an HTTP server behind Apprise's ``json://``."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest
from pydantic import ValidationError

from alerts.channels import (
    AppriseChannel,
    Channel,
    EmailChannel,
    Outgoing,
    SmtpSettings,
    WebhookChannel,
    new_secret,
)
from alerts.channels.webhook import parse_retry_after
from tests.alerts.receivers import (
    JsonReceiver,
    MailReceiver,
    Reply,
    WebhookReceiver,
    free_port,
)
from tests.edge.certs import Pki

SUBJECT = "Peringatan banjir — Siaga I di Bendung Katulampa"
TEXT = ("Tinggi muka air 212 cm ≥ batas Siaga I (200 cm).\n"
        "Warga bantaran Ciliwung: segera menuju titik evakuasi. Suhu 24 °C.")
MESSAGE = Outgoing(
    id="01J9ZK7Q4E6W3B8N2M5T0XYZ",
    subject=SUBJECT,
    text=TEXT,
    payload={"alarm": "flood-katulampa", "severity": "siaga_1", "level_cm": 212,
             "pesan": "Siaga I — segera evakuasi"},
)


def test_channels_satisfy_the_protocol(http_session: aiohttp.ClientSession) -> None:
    channels: list[Channel] = [
        WebhookChannel("http://127.0.0.1:9/hook", new_secret(), http_session),
        EmailChannel(SmtpSettings(host="127.0.0.1", sender="a@b.example"), ("c@d.example",),
                     password=None),
        AppriseChannel("json://127.0.0.1:9/notify"),
    ]
    assert [c.kind for c in channels] == ["webhook", "email", "apprise"]


# -- webhook ------------------------------------------------------------------------------


async def test_webhook_is_delivered_and_verifies(
        webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    channel = WebhookChannel(webhook_receiver.url, webhook_secret, http_session)
    delivery = await channel.send(MESSAGE)

    assert delivery.ok and delivery.detail == "HTTP 200", delivery
    assert webhook_receiver.rejected == []
    [got] = webhook_receiver.delivered
    assert got.id == MESSAGE.id
    assert got.payload == MESSAGE.payload  # the receiver's verify() parsed the body
    assert abs(got.timestamp - datetime.now(UTC).timestamp()) < 120
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == "cityhub-alerts"
    assert got.headers["webhook-signature"].startswith("v1,")


async def test_webhook_target_hides_credentials_and_query(
        webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    port = webhook_receiver.port
    url = f"http://user:s3cret@127.0.0.1:{port}/hook?token=abc#x"
    channel = WebhookChannel(url, webhook_secret, http_session)
    assert channel.target == f"http://127.0.0.1:{port}/hook"
    assert (await channel.send(MESSAGE)).ok  # the full URL is still the one used
    assert webhook_receiver.delivered[0].headers["authorization"].startswith("Basic ")


async def test_webhook_with_the_wrong_secret_is_rejected_by_the_receiver(
        webhook_receiver: WebhookReceiver, http_session: aiohttp.ClientSession) -> None:
    channel = WebhookChannel(webhook_receiver.url, new_secret(), http_session)
    delivery = await channel.send(MESSAGE)

    assert not delivery.ok and delivery.permanent and delivery.detail == "HTTP 401"
    assert webhook_receiver.received == []
    [rejected] = webhook_receiver.rejected
    assert "No matching signature" in rejected.reason


async def test_webhook_signed_too_long_ago_is_rejected(
        webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    """The timestamp is signed and checked: a replay ten minutes later fails, and so does
    a body changed after signing."""
    channel = WebhookChannel(webhook_receiver.url, webhook_secret, http_session)
    body = orjson.dumps(MESSAGE.payload)
    old = channel.sign(MESSAGE, body, datetime.now(UTC) - timedelta(minutes=10))
    fresh = channel.sign(MESSAGE, body, datetime.now(UTC))
    async with http_session.post(webhook_receiver.url, data=body, headers=old) as r:
        assert r.status == 401
    async with http_session.post(webhook_receiver.url, data=body + b" ", headers=fresh) as r:
        assert r.status == 401
    async with http_session.post(webhook_receiver.url, data=body, headers=fresh) as r:
        assert r.status == 200
    reasons = [r.reason for r in webhook_receiver.rejected]
    assert len(reasons) == 2 and "too old" in reasons[0] and "No matching" in reasons[1]
    assert len(webhook_receiver.delivered) == 1


async def test_webhook_sign_needs_an_aware_time(
        webhook_secret: str, http_session: aiohttp.ClientSession) -> None:
    channel = WebhookChannel("http://127.0.0.1:9/hook", webhook_secret, http_session)
    with pytest.raises(ValueError, match="timezone-aware"):
        channel.sign(MESSAGE, b"{}", datetime.now())  # naive: the point of the test
    jakarta = datetime.now(UTC).astimezone(ZoneInfo("Asia/Jakarta"))
    headers = channel.sign(MESSAGE, b"{}", jakarta)
    assert headers["webhook-timestamp"] == str(int(jakarta.timestamp()))


async def test_webhook_503_is_transient_with_retry_after(
        webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    webhook_receiver.script(Reply(503, {"Retry-After": "7"}),
                            Reply(503, {"Retry-After": later}), 200)
    channel = WebhookChannel(webhook_receiver.url, webhook_secret, http_session)

    first, second, third = [await channel.send(MESSAGE) for _ in range(3)]

    assert (first.ok, first.permanent, first.retry_after_s, first.detail) == (
        False, False, 7.0, "HTTP 503")
    assert not second.ok and not second.permanent
    assert second.retry_after_s is not None and 15 < second.retry_after_s <= 30
    assert third.ok
    assert [r.status for r in webhook_receiver.received] == [503, 503, 200]
    assert {r.id for r in webhook_receiver.received} == {MESSAGE.id}  # same id each time


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 504])
async def test_webhook_retryable_statuses_are_transient(
        status: int, webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    webhook_receiver.always(status)
    delivery = await WebhookChannel(webhook_receiver.url, webhook_secret,
                                    http_session).send(MESSAGE)
    assert not delivery.ok and not delivery.permanent and delivery.detail == f"HTTP {status}"
    assert delivery.retry_after_s is None


@pytest.mark.parametrize("status", [400, 404, 410, 422])
async def test_webhook_other_client_errors_are_permanent(
        status: int, webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    webhook_receiver.always(Reply(status, {"Retry-After": "5"}))
    delivery = await WebhookChannel(webhook_receiver.url, webhook_secret,
                                    http_session).send(MESSAGE)
    assert not delivery.ok and delivery.permanent and delivery.detail == f"HTTP {status}"


async def test_webhook_redirect_is_permanent_and_not_followed(
        webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    async with WebhookReceiver(webhook_secret) as elsewhere:
        webhook_receiver.always(Reply(301, {"Location": elsewhere.url}))
        delivery = await WebhookChannel(webhook_receiver.url, webhook_secret,
                                        http_session).send(MESSAGE)
        assert not delivery.ok and delivery.permanent
        assert delivery.detail.startswith("HTTP 301")
        assert elsewhere.received == [] and elsewhere.rejected == []
    assert len(webhook_receiver.received) == 1


async def test_webhook_connection_refused_is_transient(
        webhook_secret: str, http_session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_port()}/hook"
    delivery = await WebhookChannel(url, webhook_secret, http_session).send(MESSAGE)
    assert (delivery.ok, delivery.permanent, delivery.detail) == (
        False, False, "connection refused")


async def test_webhook_timeout_is_transient(
        webhook_receiver: WebhookReceiver, webhook_secret: str,
        http_session: aiohttp.ClientSession) -> None:
    webhook_receiver.always(Reply(200, delay_s=30))
    channel = WebhookChannel(webhook_receiver.url, webhook_secret, http_session,
                             timeout_s=0.5)
    async with asyncio.timeout(10):  # generous: the channel gives up after 0.5 s
        delivery = await channel.send(MESSAGE)
    assert (delivery.ok, delivery.permanent, delivery.detail) == (
        False, False, "timeout after 0.5 s")
    assert len(webhook_receiver.received) == 1  # it did arrive; the answer did not


def test_webhook_configuration_errors(http_session: aiohttp.ClientSession) -> None:
    secret = new_secret()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret)
    for bad in ("", "s3cret", "whsec_", "whsec_not base64!"):
        with pytest.raises(ValueError, match="secret"):
            WebhookChannel("http://127.0.0.1:9/", bad, http_session)
    for url in ("ftp://127.0.0.1/x", "127.0.0.1:9/hook", "http:///path"):
        with pytest.raises(ValueError, match="URL"):
            WebhookChannel(url, secret, http_session)


def test_retry_after_forms() -> None:
    now = datetime(2025, 1, 6, 7, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("Mon, 06 Jan 2025 07:01:30 GMT", now=now) == 90.0
    assert parse_retry_after("Mon, 06 Jan 2025 06:00:00 GMT", now=now) == 0.0  # past
    for junk in (None, "", "soon", "-5", "1.5", "inf", "nan", "1e9"):
        assert parse_retry_after(junk, now=now) is None, junk


# -- e-mail -------------------------------------------------------------------------------


def smtp(receiver: MailReceiver | None = None, **kw: object) -> SmtpSettings:
    port = receiver.port if receiver else free_port()
    return SmtpSettings.model_validate({"host": "127.0.0.1", "port": port,
                                        "sender": "Cityhub Bogor <alerts@bogor.example>",
                                        "timeout_s": 5, **kw})


async def test_email_is_delivered_intact(mail_receiver: MailReceiver) -> None:
    to = ("bpbd@bogor.example", "piket@bogor.example")
    channel = EmailChannel(smtp(mail_receiver), to, password=None)
    assert channel.kind == "email" and channel.target == "bpbd@bogor.example, piket@bogor.example"

    delivery = await channel.send(MESSAGE)

    assert delivery.ok and not delivery.permanent, delivery
    [mail] = mail_receiver.mails
    assert mail.rcpt_tos == list(to) and mail.mail_from == "alerts@bogor.example"
    assert not mail.tls  # nothing offered, "opportunistic" sends in clear
    msg = mail.message
    assert msg["Subject"] == SUBJECT
    assert msg["Message-ID"] == f"<{MESSAGE.id}@cityhub>"
    assert msg["From"] == "Cityhub Bogor <alerts@bogor.example>"
    assert [a.addr_spec for a in msg["To"].addresses] == list(to)
    assert abs(parsedate_to_datetime(msg["Date"]) - datetime.now(UTC)) < timedelta(minutes=5)
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg.get_content() == TEXT + "\n"


async def test_email_subject_on_several_lines_becomes_one(mail_receiver: MailReceiver) -> None:
    channel = EmailChannel(smtp(mail_receiver), ("a@bogor.example",), password=None)
    message = Outgoing(id="m2", subject="Siaga II\r\nBcc: victim@example.org", text="x")
    assert (await channel.send(message)).ok
    [mail] = mail_receiver.mails
    assert mail.message["Subject"] == "Siaga II Bcc: victim@example.org"
    assert mail.message["Bcc"] is None and mail.rcpt_tos == ["a@bogor.example"]


async def test_email_starttls_required_but_not_offered_is_permanent(
        mail_receiver: MailReceiver) -> None:
    channel = EmailChannel(smtp(mail_receiver, starttls="required"), ("a@bogor.example",),
                           password=None)
    delivery = await channel.send(MESSAGE)
    assert not delivery.ok and delivery.permanent
    assert "STARTTLS" in delivery.detail
    assert mail_receiver.mails == []


@pytest.mark.parametrize("mode", ["opportunistic", "required"])
async def test_email_starttls_when_offered(mode: str, tls_mail_receiver: MailReceiver,
                                          pki: Pki) -> None:
    channel = EmailChannel(smtp(tls_mail_receiver, starttls=mode, ca_file=pki.ca),
                           ("a@bogor.example",), password=None)
    delivery = await channel.send(MESSAGE)
    assert delivery.ok, delivery
    [mail] = tls_mail_receiver.mails
    assert mail.tls and mail.message["Message-ID"] == f"<{MESSAGE.id}@cityhub>"


async def test_email_starttls_off_stays_in_clear(tls_mail_receiver: MailReceiver) -> None:
    channel = EmailChannel(smtp(tls_mail_receiver, starttls="off"), ("a@bogor.example",),
                           password=None)
    assert (await channel.send(MESSAGE)).ok
    assert [m.tls for m in tls_mail_receiver.mails] == [False]


# aiosmtpd logs the handshake the client broke off ("SMTP session exception", at ERROR)
@pytest.mark.allow_logged_errors
async def test_email_untrusted_certificate_is_permanent(
        tls_mail_receiver: MailReceiver) -> None:
    """The certificate is checked: without the test CA the upgrade fails (and the message
    is not sent in clear instead)."""
    channel = EmailChannel(smtp(tls_mail_receiver), ("a@bogor.example",), password=None)
    delivery = await channel.send(MESSAGE)
    assert not delivery.ok and delivery.permanent
    assert delivery.detail.startswith("TLS certificate rejected"), delivery
    assert tls_mail_receiver.mails == []


async def test_email_refused_recipient_is_permanent(mail_receiver: MailReceiver) -> None:
    channel = EmailChannel(smtp(mail_receiver), ("nobody@refused.example",), password=None)
    delivery = await channel.send(MESSAGE)
    assert not delivery.ok and delivery.permanent
    assert delivery.detail == "recipients refused: nobody@refused.example (550)"
    assert mail_receiver.mails == []


async def test_email_partly_refused_counts_as_sent(mail_receiver: MailReceiver) -> None:
    channel = EmailChannel(smtp(mail_receiver), ("ok@bogor.example", "x@refused.example"),
                           password=None)
    delivery = await channel.send(MESSAGE)
    assert delivery.ok and "x@refused.example (550)" in delivery.detail
    assert [m.rcpt_tos for m in mail_receiver.mails] == [["ok@bogor.example"]]


async def test_email_greylisted_recipient_is_transient() -> None:
    async with MailReceiver(refuse="@", refuse_reply="451 4.7.1 Greylisted, try later") as mx:
        delivery = await EmailChannel(smtp(mx), ("a@bogor.example",),
                                      password=None).send(MESSAGE)
    assert not delivery.ok and not delivery.permanent
    assert "(451)" in delivery.detail


async def test_email_server_down_is_transient() -> None:
    delivery = await EmailChannel(smtp(), ("a@bogor.example",), password=None).send(MESSAGE)
    assert (delivery.ok, delivery.permanent, delivery.detail) == (
        False, False, "connection refused")


def test_smtp_settings() -> None:
    s = smtp(username="alerts", password_env="CITYHUB_SMTP_PASSWORD", starttls="required")
    assert s.password({"CITYHUB_SMTP_PASSWORD": "pw"}) == "pw"
    with pytest.raises(ValueError, match="CITYHUB_SMTP_PASSWORD is not set"):
        s.password({})
    assert smtp().password({}) is None
    with pytest.raises(ValidationError, match="only sent over TLS"):
        smtp(username="alerts", password_env="X")  # opportunistic: could be stripped
    with pytest.raises(ValidationError, match="extra"):
        smtp(password="in the file")
    with pytest.raises(ValueError, match="password exactly"):
        EmailChannel(s, ("a@bogor.example",), password=None)
    with pytest.raises(ValueError, match="password exactly"):
        EmailChannel(smtp(), ("a@bogor.example",), password="pw")
    with pytest.raises(ValueError, match="at least one"):
        EmailChannel(smtp(), (), password=None)
    with pytest.raises(ValueError, match="not an e-mail address"):
        EmailChannel(smtp(), ("bpbd bogor",), password=None)


# -- Apprise ------------------------------------------------------------------------------


async def test_apprise_json_is_delivered(json_receiver: JsonReceiver) -> None:
    channel = AppriseChannel(json_receiver.apprise_url)
    assert channel.kind == "apprise"
    assert channel.target == f"json://127.0.0.1:{json_receiver.port}"

    delivery = await channel.send(MESSAGE)

    assert delivery.ok, delivery
    [post] = json_receiver.posts
    assert (post["title"], post["message"], post["type"]) == (SUBJECT, TEXT, "info")


async def test_apprise_failure_is_transient() -> None:
    async with JsonReceiver(status=503) as receiver:
        delivery = await AppriseChannel(receiver.apprise_url).send(MESSAGE)
        assert len(receiver.posts) == 1
    assert not delivery.ok and not delivery.permanent
    assert "503" in delivery.detail, delivery


async def test_apprise_unreachable_is_transient() -> None:
    channel = AppriseChannel(f"json://127.0.0.1:{free_port()}/notify?cto=2&rto=2")
    delivery = await channel.send(MESSAGE)
    assert not delivery.ok and not delivery.permanent
    assert "connection error" in delivery.detail.lower(), delivery


def test_apprise_target_hides_tokens() -> None:
    token = "123456789:AAHabcdefghijklmnopqrstuvwxyz012345"
    channel = AppriseChannel(f"tgram://{token}/987654321")
    assert channel.target.startswith("tgram://")
    assert "AAHabc" not in channel.target and "987654321" not in channel.target
    assert AppriseChannel("json://u:pw@hooks.example.org:8443/p?x=1").target == (
        "json://hooks.example.org:8443")


@pytest.mark.allow_logged_errors  # Apprise logs why it refuses a URL, at ERROR
@pytest.mark.parametrize("url", ["notaservice://host/x", "tgram://", "json://", "hello"])
def test_apprise_invalid_url_is_refused_at_construction(url: str) -> None:
    with pytest.raises(ValueError, match="Apprise does not accept"):
        AppriseChannel(url)
