"""Chat apps (Telegram, Slack, Discord, Matrix, ntfy, ...) through Apprise: one Apprise URL
per channel, e.g. ``tgram://<bot token>/<chat id>`` or ``json://host/path``.

Apprise answers a notification with an overall status (success, failure, timeout) and
the log lines its plugin wrote, never the service's HTTP status: whether a failure is a
revoked token (permanent) or an outage (transient) cannot be told apart. Every failure
is therefore transient, and the retry policy's attempt limit is what ends a hopeless
one; ``detail`` carries Apprise's own last warning, which usually says which it was.

Apprise's plugins are blocking (``requests``): ``async_notify`` runs them in Apprise's
own thread pool, so the event loop is never blocked. Many plugins throttle themselves
(5.5 s between two messages of one channel by default); bursts queue in that pool.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import apprise

from alerts.channels.base import Delivery, Outgoing

__all__ = ["AppriseChannel"]

_WARNING = logging.WARNING


def _target(url: str, private: str) -> str:
    """``scheme://host`` only. Apprise URLs carry their tokens anywhere, the host part
    included (``tgram://<bot token>/...``, ``discord://<webhook id>/<token>``), so the host
    is taken from Apprise's own privacy form of the URL (``private``), which masks
    token-like parts (``tgram://1...5``) and leaves a real host name
    (``json://hooks.example.org``) as is.
    """
    scheme = urlsplit(url).scheme
    netloc = urlsplit(private).netloc
    host = netloc.rpartition("@")[2]  # no user:password
    return f"{scheme}://{host}"


class AppriseChannel:
    """Send the message's subject and text (Apprise's title and body) to one URL.

    The URL is checked at construction: one Apprise does not accept (an unknown scheme,
    a missing token) raises ValueError then, a configuration error caught at start-up
    rather than at the first alarm. ``timeout_s`` bounds the whole notify call.
    """

    kind = "apprise"

    def __init__(self, url: str, *, timeout_s: float = 30.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be > 0")
        self._apprise = apprise.Apprise()
        # add() logs its reason (at ERROR, on the "apprise" logger) and returns False;
        # the URL itself is not repeated here: it may hold tokens.
        if not self._apprise.add(url) or len(self._apprise) != 1:
            scheme = urlsplit(url).scheme or "(none)"
            raise ValueError(f"Apprise does not accept this {scheme}:// URL (unknown service "
                             "or missing parts; Apprise's log says which)")
        self.target = _target(url, self._apprise.urls(privacy=True)[0])
        self._timeout_s = timeout_s

    async def send(self, message: Outgoing) -> Delivery:
        """One notify; never raises for a failed delivery (every failure is transient:
        see the module's docstring)."""
        with await self._apprise.async_notify(
                body=message.text, title=message.subject, timeout=self._timeout_s) as result:
            status = result.status
            if status == apprise.AppriseResultStatus.SUCCESS:
                return Delivery(True, "sent")
            warnings = [e.message for e in result.logs() if _level(e.level) >= _WARNING]
        reason = warnings[-1] if warnings else "no detail"
        if len(reason) > 160:
            reason = reason[:159] + "…"
        return Delivery(False, f"Apprise {status.name.lower()}: {reason}")

    async def aclose(self) -> None:
        """Nothing to close: each notify opens its own connections."""


def _level(name: str) -> int:
    """A log entry's level name (``"WARNING"``) as its number; unknown names count as
    warnings so that nothing Apprise said about a failure is dropped."""
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else _WARNING
