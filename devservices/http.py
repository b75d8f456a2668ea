"""Small HTTP requests for tests and benches: a status probe, a body, a POST.

Synchronous ones use the standard library (urllib); asynchronous ones aiohttp, the hub's
one HTTP stack, for a test whose event loop also serves what it asks (an ingester's
``/metrics``), which a blocking request would deadlock. A server that does not answer is
status 0, never an exception: these are for polling.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping

__all__ = ["aget", "apost", "get", "post"]


def _url(url: str, params: Mapping[str, str] | None) -> str:
    return f"{url}?{urllib.parse.urlencode(params)}" if params else url


def get(url: str, *, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of a GET; (0, b"") when nothing answers."""
    return _request(urllib.request.Request(url), timeout_s)


def post(url: str, body: bytes, *, params: Mapping[str, str] | None = None,
         timeout_s: float = 30.0) -> tuple[int, bytes]:
    """(status, body) of a POST of ``body``; (0, b"") when nothing answers."""
    return _request(urllib.request.Request(_url(url, params), data=body, method="POST"),
                    timeout_s)


def _request(req: urllib.request.Request, timeout_s: float) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as e:
        return int(e.code), bytes(e.read())
    except OSError:
        return 0, b""


async def aget(url: str, *, timeout_s: float = 2.0) -> tuple[int, bytes]:
    """(status, body) of a GET, without blocking the event loop; (0, b"") when nothing
    answers."""
    return await _arequest("GET", url, None, None, timeout_s)


async def apost(url: str, body: bytes, *, params: Mapping[str, str] | None = None,
                timeout_s: float = 30.0) -> tuple[int, bytes]:
    """(status, body) of a POST, without blocking the event loop."""
    return await _arequest("POST", url, body, params, timeout_s)


async def _arequest(method: str, url: str, body: bytes | None,
                    params: Mapping[str, str] | None, timeout_s: float) -> tuple[int, bytes]:
    import aiohttp

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)
                                         ) as http, \
                http.request(method, url, data=body, params=params) as resp:
            return resp.status, await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError):
        return 0, b""
