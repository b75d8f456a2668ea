"""InfluxDB over the v2 write API (``/api/v2/write`` with org, bucket and token) through
influxdb-client's async API, for InfluxDB 2.x, Cloud and 3.x. Queries stay InfluxQL on
``/query`` (2.x maps database to bucket with DBRP mappings; 3.x serves it natively), so
only the write path differs from :class:`~stores.influx_v1.InfluxV1Store`.

``InfluxDBClientAsync`` runs on aiohttp, the stack every other request of the store uses,
and it awaits the write in the store's event loop: no thread per write, no second HTTP
stack (the synchronous client ran urllib3 in a worker thread). It is given the store's
:class:`~stores.endpoint.Endpoint` (authentication, proxy, per-phase timeouts) through
its documented options. The body is the hub's own line protocol, gzipped at level 1 in
a worker thread like the v1 flavour's, and sent with ``Content-Encoding: gzip``; the
client's ``enable_gzip`` would compress at level 9 inside the event loop.

Errors: the client raises ``influxdb_client.rest.ApiException`` for an HTTP error answer
(``status``, ``headers`` with ``Retry-After``, ``body``) and lets aiohttp's own errors
through for no answer; both become :class:`~cityhub.errors.SinkError` as in the v1
flavour, so 400/422 are not retried, 413 halves the batch, 429 and 5xx are retried.

Verified here only against a local recording HTTP server (path, params, auth header, gzip,
the exact line-protocol body and the status codes): no InfluxDB 2 or 3 server runs on the
test machines.
"""

from __future__ import annotations

import asyncio

import aiohttp
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api_async import WriteApiAsync
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException

from cityhub.errors import SinkError
from stores.influx_v1 import InfluxV1Store

__all__ = ["InfluxV2Store"]


class InfluxV2Store(InfluxV1Store):
    """Writes with the v2 API (org, bucket, token); reads with InfluxQL (``database``
    defaults to the bucket name, as a 2.x virtual DBRP mapping would have it)."""

    def __init__(self, url: str, *, org: str, bucket: str, token: str,
                 database: str | None = None, proxy: str | None = None,
                 batch_lines: int = 5000, timeout_s: float = 10.0, gzip: bool = True
                 ) -> None:
        super().__init__(url, database or bucket, token=token, proxy=proxy,
                         batch_lines=batch_lines, gzip_level=1 if gzip else 0,
                         timeout_s=timeout_s)
        self.org, self.bucket = org, bucket
        self._v2: InfluxDBClientAsync | None = None
        self._v2_write: WriteApiAsync | None = None
        self._v2_loop: asyncio.AbstractEventLoop | None = None

    def _writer(self) -> WriteApiAsync:
        """The v2 client's write API, made in the running event loop (the client must be
        created inside one; its aiohttp session belongs to it)."""
        loop = asyncio.get_running_loop()
        if self._v2_write is None or self._v2_loop is not loop:
            # The Authorization header comes from the endpoint (token=None here), so it is
            # built once for queries, pings and writes alike.
            extra = {"Content-Encoding": "gzip"} if self.gzip_level else {}
            self._v2 = InfluxDBClientAsync(
                url=self.url, token=None,  # type: ignore[arg-type]  # annotated `str = None`
                org=self.org, enable_gzip=False, **self.endpoint.client_options(extra))
            self._v2_write = self._v2.write_api()
            self._v2_loop = loop
        return self._v2_write

    async def _send(self, body: bytes) -> None:
        try:
            ok = await self._writer().write(
                bucket=self.bucket, org=self.org, record=body,
                write_precision=WritePrecision.NS)  # type: ignore[arg-type]  # a str constant
        except ApiException as e:
            body_text = e.body.decode(errors="replace") if isinstance(e.body, bytes) \
                else str(e.body or e.reason or "")
            raise self._error(int(e.status or 0), body_text, e.headers or {}) from e
        except (aiohttp.ClientError, TimeoutError) as e:
            raise self._unreachable(e) from e
        if not ok:  # a 2xx other than 201/204: not what a write answers
            raise SinkError(f"influxdb v2 {self.url}: unexpected answer to a write",
                            retryable=False)

    async def aclose(self) -> None:
        await super().aclose()
        if self._v2 is not None:
            await self._v2.close()  # type: ignore[no-untyped-call]
            self._v2 = self._v2_write = None
