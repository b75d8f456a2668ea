"""MQTT connection settings shared by every service (the ``broker:`` section), and the TLS
context both MQTT clients (edge publisher, ingester) connect with."""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["BrokerSettings", "TlsSettings", "explicit_protocol", "tls_context"]


class TlsSettings(BaseModel):
    """TLS to the broker: the ``tls:`` section of a city pack's ``broker`` and of a
    service's ``broker`` settings (its presence turns TLS on; ``tls: {}`` verifies the
    broker against the system's trusted CAs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ca_file: str | None = Field(None, description="CA certificate(s) (PEM) that verify the "
                                "broker; default: the system's trusted CAs")
    cert_file: str | None = Field(None, description="client certificate (PEM), for brokers "
                                  "that require one")
    key_file: str | None = Field(None, description="its private key; default: in cert_file")
    insecure: bool = Field(False, description="skip the broker's host name check (the "
                           "certificate chain is still verified)")

    @model_validator(mode="after")
    def _key_needs_cert(self) -> TlsSettings:
        if self.key_file and not self.cert_file:
            raise ValueError("key_file needs cert_file (the client certificate)")
        return self


class BrokerSettings(BaseModel):
    """How a service reaches the broker. Passwords come from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = "localhost"
    port: int = Field(1883, ge=1, le=65535)
    protocol: Literal["5", "3.1.1", "auto"] = Field(
        "3.1.1", description="3.1.1 by default: with paho, parsing MQTT 5 properties cost "
        "about a quarter of the ingester's per-message time (bench/ingest.py). Mosquitto "
        "serves $share subscriptions to 3.1.1 clients too; the broker's "
        "max_inflight_messages then bounds the in-flight window. 5 adds Receive Maximum "
        "(the client sets the window) and session expiry. auto (edge agents, the pack's "
        "default): MQTT 5, falling back to 3.1.1 when the broker refuses 5.")
    username: str | None = None
    password_env: str | None = Field(None, pattern="^[A-Z_][A-Z0-9_]*$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    tls: TlsSettings | None = Field(None, description="TLS to the broker; the section's "
                                    "presence turns it on")

    @property
    def uses_tls(self) -> bool:
        return self.tls is not None


def explicit_protocol(broker: BrokerSettings, who: str) -> BrokerSettings:
    """``broker``, for a hub service's settings validator: a service's persistent session
    is made for one protocol, so "auto" (the edge agents' fallback) is refused."""
    if broker.protocol == "auto":
        raise ValueError(f"protocol: {who} needs \"3.1.1\" or \"5\" (auto is for edge "
                         "agents)")
    return broker


def tls_context(broker: BrokerSettings) -> ssl.SSLContext | None:
    """The TLS context to reach ``broker`` with (None: plain TCP), built once at start-up
    and passed to the MQTT client (aiomqtt's ``tls_context``).

    The broker's certificate is verified against ``tls.ca_file`` (else the system's trusted
    CAs) and, unless ``tls.insecure``, its host name; TLS 1.2 at least. A client
    certificate is presented when ``tls.cert_file`` is set. An unreadable or invalid file is
    a :class:`ConfigError` naming it.
    """
    tls = broker.tls
    if tls is None:
        return None
    what = "broker TLS CA file"
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if tls.insecure:
            ctx.check_hostname = False
        if tls.cert_file:
            what = "broker TLS client certificate or key"
            ctx.load_cert_chain(tls.cert_file, tls.key_file)
    except OSError as e:  # ssl.SSLError is one
        files = tls.ca_file if what.endswith("CA file") else \
            " / ".join(f for f in (tls.cert_file, tls.key_file) if f)
        raise ConfigError([ConfigProblem(files or "broker", "", f"cannot load {what}: {e}")]
                          ) from e
    return ctx
