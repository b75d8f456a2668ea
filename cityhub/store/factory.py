"""Store settings (the ``store:`` section of a service's config) and the factory."""

from __future__ import annotations

import os
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

    kind: Literal["sqlite", "influxdb-v1"] = "sqlite"
    path: str = "var/cityhub.db"
    url: str = "http://localhost:8086"
    database: str = "cityhub"
    retention_policy: str | None = None
    username: str | None = None
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    token_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    batch_lines: int = Field(5000, ge=1, le=100_000)
    create_database: bool = False


def _secret(var: str | None) -> str | None:
    if var is None:
        return None
    value = os.environ.get(var)
    if value is None:
        raise ConfigError([ConfigProblem("environment", var, "is not set")])
    return value


async def open_store(settings: StoreSettings) -> Store:
    """The store the settings describe, ready to use (database created if asked)."""
    if settings.kind == "sqlite":
        return SQLiteStore(settings.path)
    store = InfluxV1Store(
        settings.url, settings.database, retention_policy=settings.retention_policy,
        username=settings.username, password=_secret(settings.password_env),
        token=_secret(settings.token_env), batch_lines=settings.batch_lines)
    if settings.create_database:
        await store.create_database()
    return store
