"""InfluxDB over the v2 write API (``/api/v2/write`` with org, bucket and token) through
influxdb-client, for InfluxDB 2.x, Cloud and 3.x. Queries stay InfluxQL on ``/query``
(2.x maps database to bucket with DBRP mappings; 3.x serves it natively), so only the write
path differs from :class:`~stores.influx_v1.InfluxV1Store`.

Verified here only against a local recording HTTP server (path, params, auth header, gzip
and the exact line-protocol body): no InfluxDB 2 or 3 server runs on the test machines.
"""

from __future__ import annotations

import asyncio

import httpx
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from cityhub.backoff import retry_after_seconds
from cityhub.errors import SinkError
from stores.influx_v1 import InfluxV1Store

__all__ = ["InfluxV2Store"]


class InfluxV2Store(InfluxV1Store):
    """Writes with the v2 API (org, bucket, token); reads with InfluxQL (``database``
    defaults to the bucket name, as a 2.x virtual DBRP mapping would have it)."""

    def __init__(self, url: str, *, org: str, bucket: str, token: str,
                 database: str | None = None, batch_lines: int = 5000, timeout_s: float = 10.0,
                 gzip: bool = True, client: httpx.AsyncClient | None = None) -> None:
        # gzip_level 0: the body goes to influxdb-client plain; it compresses (enable_gzip).
        super().__init__(url, database or bucket, token=token, batch_lines=batch_lines,
                         gzip_level=0, timeout_s=timeout_s, client=client)
        self.org, self.bucket = org, bucket
        self._v2 = InfluxDBClient(url=url, token=token, org=org, enable_gzip=gzip,
                                  timeout=int(timeout_s * 1000))
        self._write_api = self._v2.write_api(write_options=SYNCHRONOUS)

    def _write_sync(self, body: bytes) -> None:
        try:
            self._write_api.write(bucket=self.bucket, org=self.org, record=body,
                                  write_precision="ns")  # type: ignore[arg-type]
        except ApiException as e:
            code = int(e.status or 0)
            raise SinkError(f"influxdb v2 {self.url}: HTTP {code}: {str(e.body)[:500]}",
                            retryable=code == 429 or code >= 500,
                            status=code, retry_after=retry_after_seconds(
                                (e.headers or {}).get("Retry-After"))) from e
        except (Urllib3Error, OSError) as e:
            raise SinkError(f"influxdb v2 {self.url}: {type(e).__name__}: {e}",
                            retryable=True) from e

    async def _send(self, body: bytes) -> None:
        await asyncio.to_thread(self._write_sync, body)

    async def aclose(self) -> None:
        await super().aclose()
        await asyncio.to_thread(self._v2.close)
