"""The factory: the store a service's ``store:`` settings describe."""

from __future__ import annotations

from cityhub.errors import ConfigError, ConfigProblem
from cityhub.store.base import Store
from cityhub.store.settings import StoreSettings
from cityhub.store.sqlite import SQLiteStore
from stores.influx_v1 import InfluxV1Store

__all__ = ["open_store"]


async def open_store(settings: StoreSettings, *, password: str | None = None,
                     token: str | None = None, proxy: str | None = None) -> Store:
    """The store the settings describe, ready to use (database created if asked).

    ``password`` and ``token`` are the secrets ``password_env`` and ``token_env`` name, and
    ``proxy`` the HTTP proxy for its URL (:func:`cityhub.proxies.proxy_for`), all resolved
    by the caller at the edge of the process (this module reads no environment).
    """
    if settings.kind == "sqlite":
        return SQLiteStore(settings.path)
    if settings.kind == "influxdb-v2":
        from stores.influx_v2 import InfluxV2Store  # influxdb-client, only when asked for

        if not (settings.org and settings.bucket and token):
            raise ConfigError([ConfigProblem("store", "kind", "influxdb-v2 needs org, bucket "
                                             "and token_env")])
        return InfluxV2Store(settings.url, org=settings.org, bucket=settings.bucket,
                             token=token, database=settings.database or settings.bucket,
                             proxy=proxy, batch_lines=settings.batch_lines,
                             gzip=settings.gzip)
    store = InfluxV1Store(
        settings.url, settings.database or "cityhub", retention_policy=settings.retention_policy,
        username=settings.username, password=password, token=token, proxy=proxy,
        batch_lines=settings.batch_lines, gzip_level=1 if settings.gzip else 0)
    if settings.create_database:
        await store.create_database()
    return store
