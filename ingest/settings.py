"""The ingester's settings file (``cityhub ingest --config ingest.yaml``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ConfigDict, Field, field_validator, model_validator

from cityhub.config.packs import CityPacks
from cityhub.mqtt import BrokerSettings, explicit_protocol
from cityhub.store.settings import StoreSettings

__all__ = ["IngestSettings"]


class IngestSettings(CityPacks):
    """Everything one ingester process needs; validated once at start-up. ``pack`` (one
    city) or ``packs`` (several: one session subscribed to each city's telemetry)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    broker: BrokerSettings = BrokerSettings()
    store: StoreSettings = StoreSettings()
    client_id: str = Field("cityhub-ingest-1", description="stable: it names the session")
    shared_group: str | None = Field(
        "ingest", description="$share group so several ingesters split the load; "
        "null for a plain subscription (brokers without shared subscriptions)")
    workers: int = Field(
        1, ge=1, le=64, description="ingester processes this settings file runs, each a "
        "member of shared_group (a process decodes on one core; use about one per core "
        "the store leaves free)")
    batch_lines: int = Field(5000, ge=1, le=100_000, description="points per store write, "
                             "at most: the message that would pass it starts the next batch "
                             "(one message of more points is a batch of its own)")
    flush_interval_s: float = Field(1.0, gt=0, le=60, description="a batch is written "
                                    "at the latest this long after its first message")
    store_writes: int = Field(8, ge=1, le=16, description="batches written to the store at "
                              "once (InfluxDB works on several on its cores, and parses "
                              "some while it syncs its WAL for others); "
                              "acknowledgements still go out in arrival order")
    max_inflight: int = Field(
        2000, ge=1, le=65535, description="unacknowledged messages at once (MQTT 5 Receive "
        "Maximum): bounds memory; the broker holds the rest. Leave room for store_writes "
        "batches and as many more being read")
    max_future_s: float = Field(300.0, ge=0)
    mqtt_fast_path: bool = Field(
        True, description="read and acknowledge MQTT through paho-mqtt's internals "
        "(ingest/mqtt_fast.py: a quarter of the public path's CPU per one-point message, "
        "half per point of 50-point packs), where the installed "
        "paho-mqtt has them (checked at start; otherwise a warning and the public API); "
        "false: paho-mqtt's public API only")
    deadletter_path: str = "var/deadletters.db"
    publish_deadletters: bool = True
    spool_path: str = Field("var/spool.db", description="batches the store could not take")
    spool_max_bytes: int = Field(1 << 30, ge=1 << 20, description="when full, the ingester "
                                 "stops acknowledging and the broker keeps the backlog")
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="serve /metrics and /healthz here (0: any free "
        "port, null: off)")

    @model_validator(mode="after")
    def _workers_share(self) -> IngestSettings:
        if self.workers > 1 and not self.shared_group:
            raise ValueError("workers > 1 needs a shared_group: each worker is one member "
                             "of it, and the broker gives each message to one member")
        if self.metrics_port and self.metrics_port + self.workers - 1 > 65535:
            raise ValueError(f"metrics_port: workers use ports {self.metrics_port} to "
                             f"{self.metrics_port + self.workers - 1}, past 65535")
        return self

    def for_worker(self, k: int) -> IngestSettings:
        """The settings of worker ``k`` of this file (0 to ``workers - 1``; a higher k
        names a worker the file ran before its ``workers`` was lowered, for ``retire``).

        Worker 0 is the file's own ingester (its ``client_id``, ``spool_path`` and
        ``metrics_port``), so going from one worker to several keeps its session. Worker
        k > 0 gets the client id ``<client_id>-w<k>``, the spool ``<stem>-w<k><suffix>``
        (``spool.db`` becomes ``spool-w1.db``) and metrics port ``metrics_port + k`` (0
        stays 0: any free port). The dead-letter file is shared: SQLite takes writers from
        several processes, and ``cityhub ingest deadletters`` then lists them all.
        """
        if k < 0:
            raise ValueError(f"worker {k}: workers are numbered from 0")
        if k == 0:
            return self
        spool = Path(self.spool_path)
        port = self.metrics_port + k if self.metrics_port else self.metrics_port
        return self.model_copy(update={
            "client_id": f"{self.client_id}-w{k}",
            "spool_path": str(spool.with_name(f"{spool.stem}-w{k}{spool.suffix}")),
            "metrics_port": port})

    @field_validator("broker")
    @classmethod
    def _explicit_protocol(cls, broker: BrokerSettings) -> BrokerSettings:
        return explicit_protocol(broker, "the ingester")
