"""InfluxDB over the v1 HTTP API: line protocol on ``/write``, InfluxQL on ``/query``.

Works with InfluxDB 1.x, with 2.x through its v1 compatibility API (DBRP mappings; pass a
``token``), and with 3.x. Tested for real against InfluxDB 1.6.7 (Debian's package).

Status codes, as Telegraf's InfluxDB outputs treat them: 204 ok; 400/404/422 are not
retried (the batch or the database is wrong); 413 halves the batch and resends;
429, 502, 503, 504 and any other 5xx are retryable, honouring ``Retry-After``;
network errors are retryable. Deciding when to retry is the caller's job
(:class:`~cityhub.errors.SinkError` carries ``retryable`` and ``retry_after``).
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from cityhub.backoff import retry_after_seconds
from cityhub.errors import SinkError
from cityhub.lineprotocol import encode_lines
from cityhub.point import Encoded, Point
from cityhub.senml import Value
from cityhub.store.base import TAG_KEYS, Latest
from cityhub.store.influxql import ident, literal

__all__ = ["InfluxV1Store"]

_DOMAINS = ("traffic", "flood", "lighting", "rain")


class InfluxV1Store:
    """A :class:`~cityhub.store.base.Store` on InfluxDB's v1 API.

    ``client`` is the transport seam: tests pass an ``httpx.AsyncClient`` with their own
    transport; by default one is created for ``url``.
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
        batch_lines: int = 5000,
        gzip_level: int = 1,
        timeout_s: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.database = database
        self.retention_policy = retention_policy
        self.batch_lines = batch_lines
        self.gzip_level = gzip_level
        headers = {"Authorization": f"Token {token}"} if token else {}
        auth = (username, password or "") if username else None
        self._http = client or httpx.AsyncClient(
            base_url=self.url, headers=headers, auth=auth, timeout=timeout_s)

    async def __aenter__(self) -> InfluxV1Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def ping(self) -> str:
        """``GET /ping`` (InfluxDB 1.x, 2.x and 3.x all serve it): the server's version.
        For the v1 write path it also opens the HTTP connection (and loads what httpx
        loads lazily on its first request), so the first batch does not pay for it."""
        try:
            resp = await self._http.get("/ping")
        except httpx.HTTPError as e:
            raise self._unreachable(e) from e
        if resp.status_code >= 400:
            raise self._error(resp)
        version = resp.headers.get("X-Influxdb-Version", "(version not given)")
        return f"InfluxDB {version} at {self.url}"

    # -- writing ------------------------------------------------------------------------
    async def write(self, points: Sequence[Point]) -> None:
        if len(points) <= self.batch_lines:  # whole, so an Encoded batch stays encoded
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
        params = {"db": self.database, "precision": "ns"}
        if self.retention_policy:
            params["rp"] = self.retention_policy
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.gzip_level:
            headers["Content-Encoding"] = "gzip"
        try:
            resp = await self._http.post("/write", params=params, content=body,
                                         headers=headers)
        except httpx.TransportError as e:
            raise self._unreachable(e) from e
        if resp.status_code == 204:
            return
        if resp.status_code == 413 and len(points) > 1:
            half = len(points) // 2
            await self._write_batch(points[:half])
            await self._write_batch(points[half:])
            return
        raise self._error(resp)

    def _body(self, points: Sequence[Point]) -> bytes:
        body = encode_lines(points)
        return gzip.compress(body, compresslevel=self.gzip_level) if self.gzip_level else body

    def _unreachable(self, e: httpx.HTTPError) -> SinkError:
        """No answer from the server (refused, reset, timed out): worth retrying."""
        return SinkError(f"influxdb {self.url}: {type(e).__name__}: {e}", retryable=True)

    def _error(self, resp: httpx.Response) -> SinkError:
        try:
            detail = str(resp.json().get("error", resp.text))
        except ValueError:
            detail = resp.text
        code = resp.status_code
        retryable = code == 429 or code >= 500
        return SinkError(f"influxdb {self.url}: HTTP {code}: {detail[:500]}",
                         retryable=retryable, status=code,
                         retry_after=retry_after_seconds(resp.headers.get("Retry-After")))

    # -- querying -----------------------------------------------------------------------
    async def query(self, q: str) -> list[dict[str, Any]]:
        """Run InfluxQL; return the series of the first statement (epoch ns times)."""
        try:
            resp = await self._http.post("/query", params={"db": self.database, "epoch": "ns"},
                                         data={"q": q})
        except httpx.TransportError as e:
            raise self._unreachable(e) from e
        if resp.status_code != 200:
            raise self._error(resp)
        doc = orjson.loads(resp.content)
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
        measurements = ",".join(ident(m) for m in _DOMAINS)
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
                      stop_ns: int, window_s: float | None = None) -> list[tuple[int, float]]:
        where = (f"{ident('device')} = {literal(device)} AND time >= {int(start_ns)} "
                 f"AND time < {int(stop_ns)}")
        if window_s is None:
            q = f"SELECT {ident(field)} FROM {ident(measurement)} WHERE {where}"
        else:
            q = (f"SELECT mean({ident(field)}) FROM {ident(measurement)} WHERE {where} "
                 f"GROUP BY time({max(1, round(window_s * 1000))}ms) fill(none)")
        series = await self.query(q)
        return [(int(t), float(v)) for s in series for t, v in s["values"] if v is not None]
