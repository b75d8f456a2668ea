"""The alerts service's settings file (``cityhub alerts run --config alerts.yaml``).

The rules and departments are the city packs'; this file says which cities (``pack:
bandung``, or ``packs: [bandung, bogor]`` for one process serving several) and where the
service runs: its broker, its files, its HTTP port, how it sends e-mail and how hard it
retries.

One city (``pack``) is named as it always was: ``client_id`` and ``database`` as written,
metrics without a ``city`` label. With ``packs`` every city has its own MQTT session and
alarm store, named by :meth:`AlertsSettings.client_id_of` and
:meth:`AlertsSettings.database_of` (``alarms.db`` -> ``alarms-bogor.db``), and the one
``/metrics`` labels every sample with its ``city``.
"""

from __future__ import annotations

from pathlib import PurePath

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.channels.email import SmtpSettings
from cityhub.config.packs import CityPacks
from cityhub.mqtt import BrokerSettings, explicit_protocol

__all__ = ["AlertsSettings", "DeliverySettings"]


class DeliverySettings(BaseModel):
    """How notifications are retried and when a contact is given up on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timeout_s: float = Field(10.0, gt=0, le=120, description="one attempt at most")
    backoff_base_s: float = Field(2.0, gt=0, description="first retry within this")
    backoff_cap_s: float = Field(600.0, gt=0, description="retries at least this often")
    max_age_s: float = Field(24 * 3600.0, gt=0, description="a notification still unsent "
                             "this long after it was due is given up (kept as failed)")
    disable_after: int = Field(5, ge=1, description="a contact is disabled after this many "
                               "permanent failures in a row (reported, enabled again with "
                               "the API)")
    poll_s: float = Field(0.05, gt=0, le=10, description="how often the outbox is read "
                          "when nothing woke the sender")


class AlertsSettings(CityPacks):
    """Everything the alerts service needs; validated once at start-up. ``pack`` (one
    city) or ``packs`` (several, one process): :class:`~cityhub.config.packs.CityPacks`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    broker: BrokerSettings = BrokerSettings()
    client_id: str = Field("cityhub-alerts-1", description="stable: it names the session "
                           "(with packs, each city's: this and -{city})")
    shared_group: str | None = Field(
        "alerts", description="$share group of the telemetry and events subscriptions; "
        "null for plain ones. Gateway status is always a plain subscription (retained "
        "messages are not sent to shared ones). Run one member per city")
    database: str = Field("var/alerts/alarms.db", description="the alarm store (SQLite); "
                          "with packs, each city's: the city id before the suffix, "
                          "alarms.db -> alarms-bogor.db")
    accounts: str = Field("var/accounts.db", description="users and API tokens "
                          "(cityhub users ...); env CITYHUB_ACCOUNTS_DB overrides")
    http_host: str = "127.0.0.1"
    http_port: int = Field(8070, ge=0, le=65535, description="the API, /metrics and "
                           "/healthz (0: any free port)")
    dashboard_url: str | None = Field(None, description="base URL of the command centre "
                                      "for links in messages (the pack's wins)")
    batch_interval_s: float = Field(0.05, gt=0, le=10, description="readings are judged "
                                    "in batches at most this old")
    max_inflight: int = Field(2000, ge=1, le=65535, description="unacknowledged messages "
                              "at once")
    max_future_s: float = Field(300.0, ge=0)
    tick_s: float = Field(1.0, gt=0, le=60, description="silence, offline, escalation and "
                          "expiry are checked this often")
    close_after_s: float = Field(7 * 24 * 3600.0, gt=0, description="resolved alarms are "
                                 "closed by the system this long after")
    smtp: SmtpSettings | None = Field(None, description="needed by e-mail contacts")
    delivery: DeliverySettings = DeliverySettings()

    @field_validator("broker")
    @classmethod
    def _explicit_protocol(cls, broker: BrokerSettings) -> BrokerSettings:
        return explicit_protocol(broker, "the alerts service")

    def client_id_of(self, city: str) -> str:
        """The MQTT client id of ``city``'s session: ``client_id``, and ``-{city}`` after
        it with ``packs`` (its publishing connection adds ``-out``)."""
        return f"{self.client_id}-{city}" if self.per_city else self.client_id

    def database_of(self, city: str) -> str:
        """``city``'s alarm store: ``database``; with ``packs`` the city id before the
        suffix (``var/alerts/alarms.db`` -> ``var/alerts/alarms-bogor.db``; no suffix:
        ``alarms`` -> ``alarms-bogor``)."""
        if not self.per_city:
            return self.database
        path = PurePath(self.database)
        return str(path.with_name(f"{path.stem}-{city}{path.suffix}"))
