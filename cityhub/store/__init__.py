"""Storage in the core: the one small :class:`Store` interface, the embedded SQLite
backend (standard library only) and the store settings.

The InfluxDB backends and :func:`~stores.open_store`, which builds a store from
:class:`StoreSettings`, live in the hub-side package ``stores``: they need aiohttp and
influxdb-client, which a gateway (``cityhub[edge]``) never installs.
"""

from cityhub.store.base import TAG_KEYS, Latest, Store
from cityhub.store.settings import StoreSettings
from cityhub.store.sqlite import SQLiteStore

__all__ = ["TAG_KEYS", "Latest", "SQLiteStore", "Store", "StoreSettings"]
