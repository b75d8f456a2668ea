"""MQTT connection settings shared by every service (the ``broker:`` section)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BrokerSettings"]


class BrokerSettings(BaseModel):
    """How a service reaches the broker. Passwords come from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1"] = Field(
        "3.1.1", description="3.1.1 by default: with paho, parsing MQTT 5 properties cost "
        "about a quarter of the ingester's per-message time (bench/ingest.py). Mosquitto "
        "serves $share subscriptions to 3.1.1 clients too; the broker's "
        "max_inflight_messages then bounds the in-flight window. 5 adds Receive Maximum "
        "(the client sets the window) and session expiry.")
    username: str | None = None
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
