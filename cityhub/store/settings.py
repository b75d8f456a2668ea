"""Store settings: the ``store:`` section of a service's config.

Pure configuration, so it lives in the core: an ingester's or a dashboard's settings file
is validated without importing any store backend. The InfluxDB backends and the factory
that builds a store from these settings are in the hub-side package ``stores``
(:func:`stores.open_store`), which a gateway never installs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["StoreSettings"]


class StoreSettings(BaseModel):
    """Where readings are stored. Secrets come from the environment, never the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["sqlite", "influxdb-v1", "influxdb-v2"] = "sqlite"
    path: str = "var/cityhub.db"
    url: str = "http://localhost:8086"
    database: str | None = Field(None, description="v1: the database (default cityhub); "
                                 "v2: the InfluxQL database (DBRP mapping) queries use, "
                                 "default: the bucket")
    org: str | None = Field(None, description="v2 only")
    bucket: str | None = Field(None, description="v2 only")
    retention_policy: str | None = None
    username: str | None = None
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    token_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    batch_lines: int = Field(
        5000, ge=1, le=100_000, description="points per request, at most; the ingester's "
        "batches (line protocol) are cut only between messages to fit, so a message of "
        "more points goes in a request of its own")
    gzip: bool = Field(True, description="compress write bodies (gzip level 1): less to "
                       "send over a WAN; off for a store on the same host or LAN, where it "
                       "only costs CPU at both ends")
    create_database: bool = False
