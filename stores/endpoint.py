"""Where an InfluxDB store sends its requests and how: URL, auth, proxy and timeouts,
worked out once per store and shared by every request of both API flavours.

One HTTP stack, aiohttp: the v1 flavour's writes, queries and pings go through one
:class:`aiohttp.ClientSession` made here; the v2 flavour's writes go through
influxdb-client's async API, which runs on aiohttp too and is given the same headers,
proxy and timeouts (:meth:`Endpoint.client_options`).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["Endpoint"]


def _auth_headers(username: str | None, password: str | None,
                  token: str | None) -> dict[str, str]:
    """Basic auth (UTF-8) when a username is given, else ``Token <token>``, else none."""
    if username:
        basic = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}
    return {"Authorization": f"Token {token}"} if token else {}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """An InfluxDB server as the store reaches it. Build it with :meth:`build`."""

    url: str
    headers: Mapping[str, str]  # authentication, sent with every request
    proxy: str | None
    timeout: aiohttp.ClientTimeout

    @classmethod
    def build(cls, url: str, *, username: str | None = None, password: str | None = None,
              token: str | None = None, proxy: str | None = None,
              timeout_s: float = 10.0) -> Endpoint:
        # Timeouts per phase (connecting, and each read), not in all: a large batch over a
        # slow link is not cut off for taking longer than one timeout altogether. The
        # proxy comes from the caller (cityhub.proxies.proxy_for, at the process edge),
        # never from aiohttp's trust_env, which looks it up on every request and doubled
        # a write's CPU (1.2 to 2.4 ms a batch).
        return cls(url.rstrip("/"), _auth_headers(username, password, token), proxy,
                   aiohttp.ClientTimeout(total=None, connect=timeout_s, sock_read=timeout_s))

    def session(self) -> aiohttp.ClientSession:
        """A new session for this endpoint; call it in the event loop that will use it."""
        return aiohttp.ClientSession(headers=dict(self.headers), proxy=self.proxy,
                                     timeout=self.timeout)

    def client_options(self, headers: Mapping[str, str]) -> dict[str, Any]:
        """Keyword arguments for influxdb-client's ``InfluxDBClientAsync`` (documented
        options of it, no private names) that make it send what :meth:`session` sends:
        the same authentication, proxy and timeouts, plus ``headers``."""
        return {"timeout": self.timeout, "proxy": self.proxy,
                "client_session_kwargs": {"headers": {**self.headers, **headers}}}
