"""The hub-side store backends: InfluxDB over its v1 API (:class:`InfluxV1Store`) and
over its v2 write API (:class:`InfluxV2Store`), and :func:`open_store`, which builds the
store a service's :class:`~cityhub.store.StoreSettings` describe (SQLite included).

The core (``cityhub.store``) keeps the :class:`~cityhub.store.Store` interface, the SQLite
backend and the settings; this package needs aiohttp and influxdb-client (the ``stores``
extra, part of ``ingest`` and ``dashboards``), which a gateway never installs.
:class:`InfluxV2Store` is imported when first asked for: influxdb-client is only loaded by
a process that writes over the v2 API.

Errors: every failed call raises :class:`~cityhub.errors.SinkError`::

    SinkError
      status       the HTTP status, None when the server did not answer
      retryable    False for 400/404/422 (a wrong batch or database), True for 429,
                   5xx and network errors (refused, reset, timed out)
      retry_after  the server's Retry-After, in seconds, when it gave one
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stores.factory import open_store
from stores.influx_v1 import InfluxV1Store

if TYPE_CHECKING:
    from stores.influx_v2 import InfluxV2Store

__all__ = ["InfluxV1Store", "InfluxV2Store", "open_store"]


def __getattr__(name: str) -> Any:
    if name == "InfluxV2Store":
        from stores.influx_v2 import InfluxV2Store

        return InfluxV2Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
