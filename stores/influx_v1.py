"""InfluxDB over the v1 HTTP API: line protocol on ``/write``, InfluxQL on ``/query``.

Works with InfluxDB 1.x, with 2.x through its v1 compatibility API (DBRP mappings; pass a
``token``), and with 3.x. Tested for real against InfluxDB 1.6.7 (Debian's package).

Status codes, as Telegraf's InfluxDB outputs treat them: 204 ok; 400/404/422 are not
retried (the batch or the database is wrong); 413 halves the batch and resends;
429, 502, 503, 504 and any other 5xx are retryable, honouring ``Retry-After``;
network errors are retryable. Deciding when to retry is the caller's job
(:class:`~cityhub.errors.SinkError` carries ``retryable`` and ``retry_after``).

One HTTP client, aiohttp, for writes, queries and pings alike: one session per store
(opened in the event loop that first uses it), its authentication, proxy and timeouts
worked out once (:class:`~stores.endpoint.Endpoint`). aiohttp rather than httpx because
the ingester writes hundreds of 5,000-line batches a second and aiohttp's C-accelerated
HTTP parser costs about 1 ms of CPU per batch where httpx's async client cost about 3 ms
(measured against InfluxDB on loopback; httpx issue #3215 reports the same gap); the v2
flavour's client library runs on aiohttp too, so the store needs no second stack.
Bodies are gzipped (level 1) in a worker thread, where zlib releases the GIL.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

from cityhub.backoff import retry_after_seconds
from cityhub.errors import SinkError
from cityhub.lineprotocol import encode_lines
from cityhub.point import Encoded, Point
from cityhub.senml import Value
from cityhub.store.base import LATEST_MEASUREMENTS, TAG_KEYS, Latest
from stores.endpoint import Endpoint
from stores.influxql import ident, literal

__all__ = ["InfluxV1Store"]


class InfluxV1Store:
    """A :class:`~cityhub.store.base.Store` on InfluxDB's v1 API.

    Every request goes through one aiohttp session of the store's own, opened in the
    event loop that first uses it; :meth:`aclose` closes it.
    """

    line_protocol = True

    def __init__(
        self,
        url: str,
        database: str,
        *,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        proxy: str | None = None,
        batch_lines: int = 5000,
        gzip_level: int = 1,
        timeout_s: float = 10.0,
    ) -> None:
        self.endpoint = Endpoint.build(url, username=username, password=password,
                                       token=token, proxy=proxy, timeout_s=timeout_s)
        self.url = self.endpoint.url
        self.database = database
        self.retention_policy = retention_policy
        self.batch_lines = batch_lines
        self.gzip_level = gzip_level
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        params = {"db": database, "precision": "ns"}
        if retention_policy:
            params["rp"] = retention_policy
        self._write_url = f"{self.url}/write?{urlencode(params)}"
        self._query_url = f"{self.url}/query?{urlencode({'db': database, 'epoch': 'ns'})}"
        self._write_headers = {"Content-Type": "text/plain; charset=utf-8"}
        if gzip_level:
            self._write_headers["Content-Encoding"] = "gzip"

    async def __aenter__(self) -> InfluxV1Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        """The store's session, opened in the running event loop."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session_loop = loop
            self._session = self.endpoint.session()
        return self._session

    async def ping(self) -> str:
        """``GET /ping`` (InfluxDB 1.x, 2.x and 3.x all serve it): the server's version.
        It also opens the session's first connection, so the first batch does not pay
        for that."""
        try:
            async with self._http().get(f"{self.url}/ping") as resp:
                if resp.status >= 400:
                    raise self._error(resp.status, await resp.text(errors="replace"),
                                      resp.headers)
                version = resp.headers.get("X-Influxdb-Version", "(version not given)")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise self._unreachable(e) from e
        return f"InfluxDB {version} at {self.url}"

    # -- writing ------------------------------------------------------------------------
    async def write(self, points: Sequence[Point]) -> None:
        """Write ``points``, at most ``batch_lines`` to a request. An :class:`Encoded`
        batch is cut between its messages (:meth:`Encoded.split`), so its points are never
        built again in Python, the very work its line protocol spares; a message of more
        points than ``batch_lines`` goes in a request of its own."""
        if isinstance(points, Encoded):
            for part in points.split(self.batch_lines):
                await self._write_batch(part)
            return
        if len(points) <= self.batch_lines:
            await self._write_batch(points)
            return
        for i in range(0, len(points), self.batch_lines):
            await self._write_batch(points[i : i + self.batch_lines])

    async def _write_batch(self, points: Sequence[Point]) -> None:
        if not points:
            return
        # In a worker thread: zlib releases the GIL, so compressing this batch overlaps
        # with decoding the next one. An Encoded batch sent plain has nothing to do.
        if isinstance(points, Encoded) and not self.gzip_level:
            body = points.lines
        else:
            body = await asyncio.to_thread(self._body, points)
        try:
            await self._send(body)
        except SinkError as e:
            if e.status == 413 and len(points) > 1:  # too large: each half on its own
                half = len(points) // 2
                parts = points.split(half) if isinstance(points, Encoded) else []
                if len(parts) > 1:  # between messages: nothing to build
                    for part in parts:
                        await self._write_batch(part)
                    return
                await self._write_batch(points[:half])
                await self._write_batch(points[half:])
                return
            raise

    async def _send(self, body: bytes) -> None:
        """POST one batch's body to ``/write``; :class:`SinkError` (with the HTTP status,
        if there was an answer) unless the store took it."""
        try:
            async with self._http().post(self._write_url, data=body,
                                           headers=self._write_headers) as resp:
                if resp.status == 204:
                    return
                status, headers = resp.status, resp.headers
                text = await resp.text(errors="replace")
        except (aiohttp.ClientError, TimeoutError) as e:
            raise self._unreachable(e) from e
        raise self._error(status, text, headers)

    def _body(self, points: Sequence[Point]) -> bytes:
        body = encode_lines(points)
        return gzip.compress(body, compresslevel=self.gzip_level) if self.gzip_level else body

    def _unreachable(self, e: Exception) -> SinkError:
        """No answer from the server (refused, reset, timed out): worth retrying."""
        return SinkError(f"influxdb {self.url}: {type(e).__name__}: {e}", retryable=True)

    def _error(self, code: int, text: str, headers: Mapping[str, str]) -> SinkError:
        """An HTTP error answer as a :class:`SinkError`. The server's message is taken
        from a JSON body's ``error`` (v1 API) or ``message`` (v2 API), else the text."""
        try:
            doc = orjson.loads(text)
            detail = str(doc.get("error") or doc.get("message") or text)
        except (ValueError, AttributeError):
            detail = text
        retryable = code == 429 or code >= 500
        return SinkError(f"influxdb {self.url}: HTTP {code}: {detail[:500]}",
                         retryable=retryable, status=code,
                         retry_after=retry_after_seconds(headers.get("Retry-After")))

    # -- querying -----------------------------------------------------------------------
    async def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL; return the series of the first statement (epoch ns times)."""
        try:
            async with self._http().post(self._query_url, data={"q": q}) as resp:
                body = await resp.read()
                status, headers = resp.status, resp.headers
        except (aiohttp.ClientError, TimeoutError) as e:
            raise self._unreachable(e) from e
        if status != 200:
            raise self._error(status, body.decode(errors="replace"), headers)
        doc = orjson.loads(body)
        result = (doc.get("results") or [{}])[0]
        if "error" in result:
            raise SinkError(f"influxdb {self.url}: query failed: {result['error']}",
                            retryable=False)
        return list(result.get("series") or [])

    async def create_database(self) -> None:
        await self.query(f"CREATE DATABASE {ident(self.database)}")

    async def latest(self, *, city: str, since_ns: int | None = None) -> list[Latest]:
        where = f"{ident('city')} = {literal(city)}"
        if since_ns is not None:
            where += f" AND time >= {int(since_ns)}"
        measurements = ",".join(ident(m) for m in LATEST_MEASUREMENTS)
        q = (f"SELECT * FROM {measurements} WHERE {where} "
             f"GROUP BY {ident('device')} ORDER BY time DESC LIMIT 1")
        out = []
        for s in await self.query(q):
            cols: list[str] = s["columns"]
            row = s["values"][0]
            tags = dict(s.get("tags") or {})
            fields: dict[str, Value] = {}
            for c, v in zip(cols[1:], row[1:], strict=True):
                if c in TAG_KEYS:
                    if v is not None:
                        tags[c] = v
                elif v is not None:
                    fields[c] = v
            out.append(Latest(s["name"], tags, fields, int(row[0])))
        return out

    async def history(self, *, measurement: str, device: str, field: str, start_ns: int,
                      stop_ns: int, city: str, window_s: float | None = None
                      ) -> list[tuple[int, float]]:
        where = (f"{ident('device')} = {literal(device)} AND {ident('city')} = "
                 f"{literal(city)} AND time >= {int(start_ns)} AND time < {int(stop_ns)}")
        if window_s is None:
            q = f"SELECT {ident(field)} FROM {ident(measurement)} WHERE {where}"
        else:
            q = (f"SELECT mean({ident(field)}) FROM {ident(measurement)} WHERE {where} "
                 f"GROUP BY time({max(1, round(window_s * 1000))}ms) fill(none)")
        series = await self.query(q)
        return [(int(t), float(v)) for s in series for t, v in s["values"] if v is not None]
