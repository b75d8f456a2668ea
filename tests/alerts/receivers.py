"""Real local receivers for the notification channels, on 127.0.0.1, for any test.

- :class:`WebhookReceiver`: an aiohttp server that verifies each request as a Standard
  Webhooks receiver would (``standardwebhooks.Webhook(secret).verify``), records what it
  verified and what it rejected, and answers scripted statuses.
- :class:`MailReceiver`: an aiosmtpd server (its threaded ``Controller``) that stores each
  message, optionally offers STARTTLS and refuses chosen recipients.
- :class:`JsonReceiver`: an HTTP server recording what Apprise's ``json://`` posts.

Each is an async context manager (``async with WebhookReceiver(secret) as hook:``);
``tests/alerts/conftest.py`` has fixtures for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import re
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from standardwebhooks import Webhook, WebhookVerificationError

__all__ = ["JsonReceiver", "Mail", "MailReceiver", "Received", "Rejected", "Reply",
           "WebhookReceiver", "free_port", "server_tls_context"]

HOST = "127.0.0.1"


def free_port() -> int:
    """A loopback port nothing listens on right now (the OS picks it): a closed port for
    "connection refused" tests, or one for a server that cannot bind port 0 itself."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context for ``cert``/``key`` (no client certificates asked for)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


# -- HTTP ---------------------------------------------------------------------------------


class _HttpServer:
    """An aiohttp app on 127.0.0.1, port 0 (the OS picks), in the test's event loop."""

    path = "/"

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Set at stop: releases handlers told to sleep, so shutdown does not wait for them.
        self._closing = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the receiver is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", self.path, self.handle)
        self._runner = web.AppRunner(app, shutdown_timeout=2.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, HOST, 0).start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the server stops meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()


@dataclass(frozen=True)
class Reply:
    """What the webhook receiver answers: a status, headers, after a delay."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class Received:
    """A request whose signature verified, and the status it was answered with."""

    id: str
    timestamp: int
    payload: Any
    headers: dict[str, str]
    status: int


@dataclass(frozen=True)
class Rejected:
    """A request whose signature did not verify (answered 401)."""

    reason: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver(_HttpServer):
    """Verifies each POST with the shared secret; answers 401 to those that fail, else
    the next scripted reply (:meth:`script`), else the standing one (:meth:`always`,
    200 unless told)."""

    path = "/hook"

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.verifier = Webhook(secret)
        self.received: list[Received] = []
        self.rejected: list[Rejected] = []
        self._script: list[Reply] = []
        self._standing = Reply()

    @property
    def delivered(self) -> list[Received]:
        """The verified requests answered 2xx."""
        return [r for r in self.received if 200 <= r.status < 300]

    def script(self, *replies: Reply | int) -> None:
        """Answer the next verified requests with these, in order."""
        self._script += [r if isinstance(r, Reply) else Reply(r) for r in replies]

    def always(self, reply: Reply | int) -> None:
        """Answer every verified request past the script with ``reply``."""
        self._standing = reply if isinstance(reply, Reply) else Reply(reply)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = dict(request.headers)
        try:
            payload = self.verifier.verify(body, headers)
        except (WebhookVerificationError, ValueError) as e:
            # ValueError: a malformed signature header, a body that is not JSON
            self.rejected.append(Rejected(f"{type(e).__name__}: {e}", headers, body))
            return web.Response(status=401, text="signature does not verify")
        reply = self._script.pop(0) if self._script else self._standing
        lower = {k.lower(): v for k, v in headers.items()}
        self.received.append(Received(lower["webhook-id"], int(lower["webhook-timestamp"]),
                                      payload, lower, reply.status))
        if reply.delay_s:
            await self.pause(reply.delay_s)
        return web.Response(status=reply.status, headers=dict(reply.headers))


class JsonReceiver(_HttpServer):
    """Records each JSON body POSTed (Apprise's ``json://``: version, title, message,
    type, attachments); answers ``status``."""

    path = "/notify"

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.posts: list[dict[str, Any]] = []

    @property
    def apprise_url(self) -> str:
        return f"json://{HOST}:{self.port}{self.path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.posts.append(await request.json())
        return web.Response(status=self.status)


# -- SMTP ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    """A message as the receiver got it."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool  # the session had done STARTTLS
    raw: bytes


class _Handler:
    """aiosmtpd's handler hooks (they run in the controller's own thread and loop)."""

    def __init__(self, box: MailReceiver) -> None:
        self.box = box

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if self.box.refuse is not None and re.search(self.box.refuse, address):
            return self.box.refuse_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        # Line ends as a mail store keeps them (LF): a body sent 8bit (the server offers
        # 8BITMIME) would otherwise read back with the wire's CRLFs in it.
        message = email.message_from_bytes(raw.replace(b"\r\n", b"\n"),
                                           policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.box.mails.append(Mail(str(envelope.mail_from), list(envelope.rcpt_tos),
                                   message, session.ssl is not None, raw))
        return "250 Message accepted for delivery"


class MailReceiver:
    """An SMTP server on 127.0.0.1 (aiosmtpd's threaded ``Controller``).

    ``tls``: a server context, to offer STARTTLS (not require it). ``refuse``: a regular
    expression; recipients matching it are answered ``refuse_reply`` (550 unless told).

    The port is picked before start (:func:`free_port`): ``Controller`` cannot be given
    port 0, as after binding it connects to the port it was given to check the server
    is up.
    """

    def __init__(self, *, tls: ssl.SSLContext | None = None, refuse: str | None = None,
                 refuse_reply: str = "550 5.1.1 Mailbox unavailable") -> None:
        self.refuse = refuse
        self.refuse_reply = refuse_reply
        self.mails: list[Mail] = []
        self.host = HOST
        self.port = free_port()
        kwargs: dict[str, Any] = {} if tls is None else {"tls_context": tls}
        self.controller = Controller(_Handler(self), hostname=HOST, port=self.port,
                                     **kwargs)

    @property
    def messages(self) -> list[EmailMessage]:
        return [m.message for m in self.mails]

    async def start(self) -> None:
        await asyncio.to_thread(self.controller.start)

    async def stop(self) -> None:
        await asyncio.to_thread(self.controller.stop)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()
