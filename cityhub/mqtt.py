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
        "5", description="MQTT 5 for shared subscriptions and Receive Maximum")
    username: str | None = None
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
