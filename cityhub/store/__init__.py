"""Storage: one small :class:`Store` interface, an InfluxDB v1 backend and an embedded
SQLite backend. :func:`open_store` builds one from settings."""

from cityhub.store.base import TAG_KEYS, Latest, Store
from cityhub.store.factory import StoreSettings, open_store
from cityhub.store.influx_v1 import InfluxV1Store
from cityhub.store.sqlite import SQLiteStore

__all__ = ["TAG_KEYS", "InfluxV1Store", "Latest", "SQLiteStore", "Store", "StoreSettings",
           "open_store"]
