"""MQTT connection settings shared by every service (the ``broker:`` section), and the TLS
context both MQTT clients (edge publisher, ingester) connect with."""

from __future__ import annotations

import ssl
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["BrokerSettings", "tls_context"]


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
    tls: bool = Field(False, description="connect over TLS; implied by tls_ca_file or "
                      "tls_cert_file. Without tls_ca_file the system's trusted CAs verify "
                      "the broker")
    tls_ca_file: str | None = None
    tls_cert_file: str | None = Field(None, description="client certificate (PEM), for "
                                      "brokers that require one")
    tls_key_file: str | None = Field(None, description="the client certificate's key "
                                     "(PEM); default: in tls_cert_file")
    tls_insecure: bool = Field(False, description="do not check the broker's host name "
                               "against its certificate (the chain is still verified)")

    @model_validator(mode="after")
    def _key_needs_cert(self) -> BrokerSettings:
        if self.tls_key_file and not self.tls_cert_file:
            raise ValueError("tls_key_file needs tls_cert_file")
        return self

    @property
    def uses_tls(self) -> bool:
        return bool(self.tls or self.tls_ca_file or self.tls_cert_file)


def tls_context(broker: BrokerSettings) -> ssl.SSLContext | None:
    """The TLS context to reach ``broker`` with (None: plain TCP), built once at start-up
    and passed to the MQTT client (aiomqtt's ``tls_context``).

    The broker's certificate is verified against ``tls_ca_file`` (else the system's trusted
    CAs) and, unless ``tls_insecure``, its host name; TLS 1.2 at least. A client
    certificate is presented when ``tls_cert_file`` is set. An unreadable or invalid file is
    a :class:`ConfigError` naming it.
    """
    if not broker.uses_tls:
        return None
    what = "broker TLS CA file"
    try:
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=broker.tls_ca_file)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if broker.tls_insecure:
            ctx.check_hostname = False
        if broker.tls_cert_file:
            what = "broker TLS client certificate or key"
            ctx.load_cert_chain(broker.tls_cert_file, broker.tls_key_file)
    except OSError as e:  # ssl.SSLError is one
        files = broker.tls_ca_file if what.endswith("CA file") else \
            " / ".join(f for f in (broker.tls_cert_file, broker.tls_key_file) if f)
        raise ConfigError([ConfigProblem(files or "broker", "", f"cannot load {what}: {e}")]
                          ) from e
    return ctx
