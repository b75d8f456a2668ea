"""Store settings (the ``store:`` section of a service's config) and the factory."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from cityhub.errors import ConfigError, ConfigProblem
from cityhub.store.base import Store
from cityhub.store.influx_v1 import InfluxV1Store
from cityhub.store.sqlite import SQLiteStore

__all__ = ["StoreSettings", "open_store"]


class StoreSettings(BaseModel):
    """Where readings are stored. Secrets come from the environment, never the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sqlite", "influxdb-v1", "influxdb-v2"] = "sqlite"
    path: str = "var/cityhub.db"
    url: str = "http://localhost:8086"
    database: str = Field("cityhub", description="v1: database; v2: InfluxQL database "
                          "(DBRP) for queries, defaults to the bucket")
    org: str | None = Field(None, description="v2 only")
    bucket: str | None = Field(None, description="v2 only")
    retention_policy: str | None = None
    username: str | None = None
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    token_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    batch_lines: int = Field(5000, ge=1, le=100_000)
    gzip: bool = Field(True, description="compress write bodies (gzip level 1): less to "
                       "send over a WAN; off for a store on the same host or LAN, where it "
                       "only costs CPU at both ends")
    create_database: bool = False


async def open_store(settings: StoreSettings, *, password: str | None = None,
                     token: str | None = None) -> Store:
    """The store the settings describe, ready to use (database created if asked).

    ``password`` and ``token`` are the secrets ``password_env`` and ``token_env`` name,
    resolved by the caller at the edge of the process (this module reads no environment).
    """
    if settings.kind == "sqlite":
        return SQLiteStore(settings.path)
    if settings.kind == "influxdb-v2":
        from cityhub.store.influx_v2 import InfluxV2Store  # needs cityhub[ingest]

        if not (settings.org and settings.bucket and token):
            raise ConfigError([ConfigProblem("store", "kind", "influxdb-v2 needs org, bucket "
                                             "and token_env")])
        return InfluxV2Store(settings.url, org=settings.org, bucket=settings.bucket,
                             token=token, database=settings.bucket,
                             batch_lines=settings.batch_lines, gzip=settings.gzip)
    store = InfluxV1Store(
        settings.url, settings.database, retention_policy=settings.retention_policy,
        username=settings.username, password=password, token=token,
        batch_lines=settings.batch_lines, gzip_level=1 if settings.gzip else 0)
    if settings.create_database:
        await store.create_database()
    return store
