"""Webhooks signed per the Standard Webhooks spec (https://www.standardwebhooks.com).

Each POST carries ``webhook-id`` (the message id, stable across retries, so the receiver
can deduplicate), ``webhook-timestamp`` (integer seconds, so the receiver can refuse
replays) and ``webhook-signature`` (``v1,<base64 HMAC-SHA256>`` of
``id.timestamp.body``), computed by the ``standardwebhooks`` package: the same code a
receiver written against the spec verifies with, rather than our own HMAC.

Status codes, as DESIGN.md's retry policy reads: 2xx ok; 408, 425, 429 and any 5xx are
transient, with ``Retry-After`` (seconds or an HTTP-date) passed on; any other 4xx is
permanent, so a receiver that keeps answering 400 is not retried forever. 3xx is
permanent too: redirects are not followed (see :meth:`WebhookChannel.send`).
"""

from __future__ import annotations

import base64
import binascii
import errno
import secrets
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import orjson
from standardwebhooks import Webhook

from alerts.channels.base import Delivery, Outgoing

__all__ = ["WebhookChannel", "new_secret", "parse_retry_after"]

_PREFIX = "whsec_"
_TRANSIENT_4XX = frozenset({408, 425, 429})
USER_AGENT = "cityhub-alerts"


def new_secret() -> str:
    """A fresh signing secret in the spec's ``whsec_<base64>`` form: 32 random bytes
    (the spec asks for 24 to 64)."""
    return _PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def _check_secret(secret: str) -> None:
    """Refuse a secret that is not ``whsec_`` + base64 now, at construction.

    ``standardwebhooks.Webhook`` decodes the part after the prefix with a lenient
    ``b64decode`` that silently drops characters outside the alphabet, so a mistyped
    secret would sign with other bytes than the receiver's and every delivery would be
    rejected with nothing saying why.
    """
    if not secret.startswith(_PREFIX):
        raise ValueError("a webhook secret is 'whsec_' followed by base64 (see new_secret())")
    body = secret[len(_PREFIX):]
    try:
        key = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error as e:
        raise ValueError(f"the webhook secret after 'whsec_' is not base64: {e}") from None
    if not key:
        raise ValueError("the webhook secret is empty")


def _redact(url: str) -> str:
    """The URL as delivery records show it: no user:password, no query, no fragment
    (where tokens usually travel). A token in the path stays: it is the address."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"a webhook URL is http(s)://host/...: got {parts.scheme!r} scheme")
    host = parts.hostname
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse_retry_after(header: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds: the delay form (``120``) or the HTTP-date form
    (``Wed, 21 Oct 2015 07:28:00 GMT``, counted from ``now``); a date in the past is 0.
    None when absent or unreadable, so a garbled header costs only the hint."""
    if header is None:
        return None
    value = header.strip()
    # RFC 9110's delay-seconds is digits only: float() would take "inf", "nan" or "1e9".
    if value.isascii() and value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read so too
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _seconds(value: float) -> str:
    return f"{value:g} s"


class WebhookChannel:
    """POST a message's payload as JSON to one URL, signed with a shared secret.

    The session is the caller's (one per service, shared by every webhook channel, so
    connections are pooled): :meth:`aclose` leaves it open.
    """

    kind = "webhook"

    def __init__(self, url: str, secret: str, session: aiohttp.ClientSession, *,
                 timeout_s: float = 10.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        _check_secret(secret)
        self.target = _redact(url)
        self._url = url
        self._signer = Webhook(secret)
        self._session = session
        self._timeout_s = timeout_s

    def sign(self, message: Outgoing, body: bytes, now: datetime) -> dict[str, str]:
        """The request's headers for ``body`` sent at ``now`` (public for the docs and the
        tests: the signature a receiver must compute).

        ``now`` is cut to whole seconds first, so the signed timestamp and the
        ``webhook-timestamp`` header are the same number. It must be timezone-aware:
        ``Webhook.sign`` does ``timestamp.replace(tzinfo=utc)``, which re-labels rather
        than converts, so a local time would be signed hours off and then refused by the
        receiver's five-minute tolerance.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC).replace(microsecond=0)
        # sign() takes str and encodes it as UTF-8 again: orjson's output is UTF-8, so the
        # bytes signed are the bytes sent.
        signature = self._signer.sign(message.id, now, body.decode("utf-8"))
        return {
            "webhook-id": message.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature,
            "content-type": "application/json",
            "user-agent": USER_AGENT,
        }

    async def send(self, message: Outgoing) -> Delivery:
        """One POST; never raises for a failed delivery.

        Redirects are not followed: the body is signed for this receiver, and re-sending
        it (with its valid signature and id) wherever a 3xx points would hand a replayable
        signed message to a host nobody configured. A moved receiver is a configuration
        change, hence permanent.
        """
        body = orjson.dumps(message.payload)
        headers = self.sign(message, body, datetime.now(UTC))
        try:
            async with self._session.post(
                    self._url, data=body, headers=headers, allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=self._timeout_s)) as resp:
                return classify(resp.status, resp.headers.get("Retry-After"))
        except TimeoutError:
            # aiohttp's own timeouts (ServerTimeoutError, ConnectionTimeoutError) are
            # TimeoutErrors too: checked before ClientError.
            return Delivery(False, f"timeout after {_seconds(self._timeout_s)}")
        except aiohttp.ClientConnectorCertificateError as e:
            # A certificate that does not verify is a configuration or security problem
            # that retrying the same request cannot fix: fail loudly, do not retry.
            return Delivery(False, f"TLS certificate rejected: {e.certificate_error}",
                            permanent=True)
        except aiohttp.ClientConnectorDNSError:
            return Delivery(False, f"DNS lookup failed for {urlsplit(self._url).hostname}")
        except aiohttp.ClientConnectorError as e:
            if e.os_error.errno == errno.ECONNREFUSED:
                return Delivery(False, "connection refused")
            return Delivery(False, f"cannot connect: {e.os_error.strerror or e.os_error}")
        except aiohttp.ServerDisconnectedError:
            return Delivery(False, "server disconnected")
        except aiohttp.ClientError as e:
            return Delivery(False, f"HTTP error: {type(e).__name__}: {e}")

    async def aclose(self) -> None:
        """Nothing to close: the session belongs to the caller."""


def classify(status: int, retry_after: str | None = None) -> Delivery:
    """A response's status (and ``Retry-After``) as a :class:`Delivery`."""
    detail = f"HTTP {status}"
    if 200 <= status < 300:
        return Delivery(True, detail)
    if status in _TRANSIENT_4XX or 500 <= status < 600:
        return Delivery(False, detail, retry_after_s=parse_retry_after(retry_after))
    if 300 <= status < 400:
        return Delivery(False, f"{detail}: redirects are not followed", permanent=True)
    return Delivery(False, detail, permanent=True)
