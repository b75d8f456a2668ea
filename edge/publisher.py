"""Publishes a gateway's readings as SenML packs over MQTT (QoS 1, one pack per domain
per flush), with a retained birth message and a last will on the status topic.

This is the foundation slice: readings wait in memory between flushes. The on-disk
store-and-forward queue (nothing lost across outages and restarts) is the edge agent's
job and replaces the in-memory buffer here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import aiomqtt
import orjson

from cityhub.backoff import backoff_delay
from cityhub.config.pack import CityPack, Gateway
from cityhub.fields import Domain
from cityhub.mqtt import BrokerSettings
from cityhub.senml import Reading, encode_packs
from cityhub.topics import status_topic, telemetry_topic
from edge.drivers.sim import SensorSim

__all__ = ["GatewayPublisher"]

log = logging.getLogger("cityhub.edge")
VERSION = "0.1.0"


class GatewayPublisher:
    """Samples a gateway's sensors when due and publishes them every flush interval.

    ``interval_scale`` shortens every sensor's sampling interval (the demo uses it to make
    a minute of city life visible in seconds); ``clock`` gives UNIX seconds.
    """

    def __init__(self, pack: CityPack, gateway: Gateway, sims: Iterable[SensorSim],
                 broker: BrokerSettings, *, password: str | None = None,
                 interval_scale: float = 1.0, flush_interval_s: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.pack = pack
        self.gateway = gateway
        self.sims = list(sims)
        self.broker = broker
        self.password = password
        self.interval_scale = interval_scale
        self.flush_interval_s = flush_interval_s or gateway.flush_interval_s
        self.clock = clock
        self.seq = 0
        self.published = 0
        self._next_due = {s.sensor.id: 0.0 for s in self.sims}
        self._pending: list[tuple[Domain, Reading]] = []

    def sample_due(self) -> None:
        """Sample every sensor whose interval has elapsed."""
        now = self.clock()
        for sim in self.sims:
            sid = sim.sensor.id
            if now < self._next_due[sid]:
                continue
            self._next_due[sid] = now + sim.sensor.interval_s * self.interval_scale
            t_ns = round(now * 1e6) * 1000
            for name, value in sim.sample(now).items():
                self.seq += 1
                self._pending.append((sim.sensor.domain, Reading(sid, name, value, t_ns,
                                                                  self.seq)))

    def _packs(self) -> list[tuple[str, bytes, int]]:
        by_domain: dict[Domain, list[Reading]] = defaultdict(list)
        for domain, r in self._pending:
            by_domain[domain].append(r)
        out: list[tuple[str, bytes, int]] = []
        for domain, readings in by_domain.items():
            readings.sort(key=lambda r: r.device)
            topic = telemetry_topic(self.pack.city.id, domain, self.gateway.id)
            out.extend((topic, p, len(readings)) for p in encode_packs(readings, domain=domain))
        return out

    def _status(self, state: str) -> bytes:
        return orjson.dumps({"state": state, "gateway": self.gateway.id, "version": VERSION,
                             "backlog": len(self._pending), "time": self.clock()})

    def _client(self) -> aiomqtt.Client:
        b = self.broker
        will = aiomqtt.Will(status_topic(self.pack.city.id, self.gateway.id),
                            self._status("offline"), qos=1, retain=True)
        kwargs: dict[str, Any] = {}
        if b.protocol == "3.1.1":
            kwargs["protocol"] = aiomqtt.ProtocolVersion.V311
        else:
            kwargs["protocol"] = aiomqtt.ProtocolVersion.V5
        return aiomqtt.Client(b.host, b.port, identifier=f"cityhub-edge-{self.gateway.id}",
                              username=b.username, password=self.password, will=will,
                              keepalive=b.keepalive_s, **kwargs)

    async def run(self) -> None:
        """Sample and publish until cancelled; reconnect with backoff."""
        attempt = 0
        while True:
            try:
                async with self._client() as client:
                    attempt = 0
                    await client.publish(status_topic(self.pack.city.id, self.gateway.id),
                                         self._status("online"), qos=1, retain=True)
                    while True:
                        self.sample_due()
                        if self._pending:
                            for topic, payload, _ in self._packs():
                                await client.publish(topic, payload, qos=1)
                            self.published += len(self._pending)
                            self._pending.clear()
                        await asyncio.sleep(self.flush_interval_s)
            except aiomqtt.MqttError as e:
                delay = backoff_delay(attempt, base=0.5, cap=30)
                attempt += 1
                log.warning("edge %s: broker connection lost (%s); reconnecting in %.1fs",
                            self.gateway.id, e, delay)
                await asyncio.sleep(delay)
