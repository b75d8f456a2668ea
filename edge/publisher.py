"""Publishes a gateway's readings as SenML packs over MQTT (QoS 1), store-and-forward.

Every sampled reading goes to the on-disk :class:`~edge.queue.DiskQueue` first (numbered
with the gateway's ``seq``), and leaves it only after the broker's PUBACK for the pack that
carried it. Each flush publishes the live readings (sampled since the previous flush)
first, then backlog, oldest first, at ``replay_per_s`` readings a second on average, in
slices of ``replay_slice`` readings with whatever was sampled meanwhile sent before the
next slice: an outage's backlog drains at a bounded rate without delaying live data. What
was sampled while the broker was unreachable is backlog: on a new connection only the
latest sampling round is live. Packs hold one domain of one gateway, many devices and
timestamps, at most ``max_pack_bytes``.

A retained birth message and a last will go to the status topic. :meth:`request_stop`
(the CLI calls it on SIGTERM/SIGINT) shuts down gracefully: sampling stops, what is queued
is published while the broker is connected (bounded by ``shutdown_timeout_s``), the
retained status says ``offline``, and the status file ``stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import aiomqtt
import orjson
from aiomqtt.exceptions import MqttConnectError

from cityhub import __version__
from cityhub.backoff import backoff_delay
from cityhub.config.pack import AnySensor, CityPack, Gateway
from cityhub.fields import DOMAINS, Domain, Kind
from cityhub.mqtt import BrokerSettings, tls_context
from cityhub.senml import Reading, Value, encode_pack_groups
from cityhub.signals import raise_if_cancelling
from cityhub.topics import status_topic, telemetry_topic
from edge.drivers.base import Driver, DriverError
from edge.queue import DiskQueue, Queued
from edge.status import status_path

__all__ = ["GatewayPublisher"]

log = logging.getLogger("cityhub.edge")


class GatewayPublisher:
    """Samples a gateway's sensors when due, queues the readings on disk, and publishes.

    ``interval_scale`` shortens every sensor's sampling interval (the demo uses it to make
    a minute of city life visible in seconds); ``clock`` gives UNIX seconds. The broker's
    TLS context is built here, once: an unreadable certificate is a
    :class:`~cityhub.errors.ConfigError` at start-up.
    """

    def __init__(self, pack: CityPack, gateway: Gateway,
                 sensors: Iterable[tuple[AnySensor, Driver]],
                 broker: BrokerSettings, queue: DiskQueue, *, password: str | None = None,
                 interval_scale: float = 1.0, flush_interval_s: float | None = None,
                 replay_per_s: float = 5000.0, max_pack_bytes: int = 64 * 1024,
                 replay_slice: int = 5000,
                 heartbeat_s: float = 60.0, shutdown_timeout_s: float = 5.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.pack = pack
        self.gateway = gateway
        self.sensors = list(sensors)
        self.broker = broker
        self.queue = queue
        self.password = password
        self.interval_scale = interval_scale
        self.flush_interval_s = flush_interval_s or gateway.flush_interval_s
        self.replay_per_s = replay_per_s
        self.max_pack_bytes = max_pack_bytes
        self.replay_slice = replay_slice
        self.clock = clock
        self.published = 0
        self.invalid = 0
        self.health: dict[str, dict[str, object]] = {
            s.id: {"ok": True, "failures": 0, "error": None, "last_ok": None}
            for s, _ in self.sensors}
        self.heartbeat_s = heartbeat_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.broker_error: str | None = None
        self._tls = tls_context(broker)
        self._v5_refused = False  # protocol auto: the broker refused MQTT 5, use 3.1.1
        self._stopping = asyncio.Event()
        self._stop_by = math.inf  # time.monotonic() deadline of a graceful stop
        self.started = clock()
        self.last_puback: float | None = None
        self.status_file = status_path(queue.path) if queue.path != ":memory:" else None
        self._next_due = {s.id: 0.0 for s, _ in self.sensors}
        self._live_from = queue.stats().next_seq  # readings from here on are live
        self._round_from = self._live_from  # the first seq of the latest sampling round
        self._connection: object | None = None  # the client of the previous flush
        self._replay_budget = 0.0  # backlog readings the replay rate allows now
        self._replay_at = 0.0  # clock() of the budget's last top-up
        self._reading_bytes: dict[Domain, float] = {}  # in the latest pack of each domain

    async def _read(self, sensor: AnySensor, driver: Driver, now: float
                    ) -> list[tuple[Domain, str, str, Value, int]]:
        """One sensor's readings; a failing driver marks only its own sensor faulty."""
        h = self.health[sensor.id]
        try:
            async with asyncio.timeout(60):
                fields = await driver.read(now)
        except (DriverError, TimeoutError, OSError) as e:
            h.update(ok=False, error=str(e) or type(e).__name__,
                     failures=int(h["failures"]) + 1)  # type: ignore[call-overload]
            log.warning("edge %s: sensor %s: %s", self.gateway.id, sensor.id, h["error"])
            return []
        h.update(ok=True, error=None, last_ok=now)
        t_ns = round(now * 1e6) * 1000
        out = []
        for name, value in fields.items():
            problem = _check(sensor.domain, name, value)
            if problem:
                self.invalid += 1
                log.warning("edge %s: sensor %s returned %s; skipped", self.gateway.id,
                            sensor.id, problem)
                continue
            out.append((sensor.domain, sensor.id, name, value, t_ns))
        return out

    async def sample_due(self) -> list[Queued]:
        """Read every sensor whose interval has elapsed (concurrently) and queue the
        readings on disk in one transaction."""
        now = self.clock()
        due = []
        for sensor, driver in self.sensors:
            if now >= self._next_due[sensor.id]:
                self._next_due[sensor.id] = now + sensor.interval_s * self.interval_scale
                due.append(self._read(sensor, driver, now))
        items = [x for batch in await asyncio.gather(*due) for x in batch]
        if not items:
            return []
        queued = await asyncio.to_thread(self.queue.put, items)
        self._round_from = queued[0].reading.seq or 0
        return queued

    def packs(self, queued: list[Queued]) -> list[tuple[str, bytes, list[int]]]:
        """(topic, SenML pack, seqs it carries) per domain, each pack under the size bound."""
        by_domain: dict[Domain, list[Reading]] = defaultdict(list)
        for q in queued:
            by_domain[q.domain].append(q.reading)
        out = []
        for domain, readings in by_domain.items():
            readings.sort(key=lambda r: (r.device, r.time_ns))
            topic = telemetry_topic(self.pack.city.id, domain, self.gateway.id)
            # Cut a large batch (a backlog slice) into pieces that should fit, from the
            # bytes per reading of this domain's previous packs: encode_pack_groups
            # encodes a batch whole, then halves it until the packs fit, which for a batch
            # of many packs would encode every reading many times over.
            per = self._reading_bytes.get(domain)
            step = len(readings) if per is None else \
                max(1, int(0.8 * self.max_pack_bytes / per))
            for i in range(0, len(readings), step):
                for pack, carried in encode_pack_groups(readings[i:i + step], domain=domain,
                                                        max_bytes=self.max_pack_bytes):
                    out.append((topic, pack, [r.seq or 0 for r in carried]))
                    self._reading_bytes[domain] = len(pack) / len(carried)
        return out

    def status(self, state: str) -> dict[str, object]:
        """The agent's status: what the heartbeat publishes and ``cityhub edge status``
        shows."""
        s = self.queue.stats()
        now = self.clock()
        return {"state": state, "gateway": self.gateway.id, "version": __version__,
                "backlog": s.depth, "oldest_age_s": s.oldest_age_s, "dropped": s.dropped,
                "invalid": self.invalid, "published": self.published,
                "last_puback": self.last_puback, "broker_error": self.broker_error,
                "uptime_s": round(now - self.started, 1),
                "faulty_sensors": sorted(k for k, h in self.health.items() if not h["ok"]),
                "sensors": self.health, "time": now}

    def _status(self, state: str) -> bytes:
        return orjson.dumps({k: v for k, v in self.status(state).items() if k != "sensors"})

    def write_status_file(self, state: str) -> None:
        """Write the status next to the queue (atomically), for ``cityhub edge status``."""
        if self.status_file is None:
            return
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(self.status(state), option=orjson.OPT_INDENT_2))
        tmp.replace(self.status_file)

    def _client(self) -> aiomqtt.Client:
        b = self.broker
        will = aiomqtt.Will(status_topic(self.pack.city.id, self.gateway.id),
                            self._status("offline"), qos=1, retain=True)
        v5 = b.protocol == "5" or (b.protocol == "auto" and not self._v5_refused)
        kwargs: dict[str, Any] = {"protocol": aiomqtt.ProtocolVersion.V5 if v5
                                  else aiomqtt.ProtocolVersion.V311}
        return aiomqtt.Client(b.host, b.port, identifier=f"cityhub-edge-{self.gateway.id}",
                              username=b.username, password=self.password, will=will,
                              keepalive=b.keepalive_s, tls_context=self._tls, **kwargs)

    async def _send(self, client: aiomqtt.Client, queued: list[Queued]) -> None:
        for topic, payload, seqs in self.packs(queued):
            await client.publish(topic, payload, qos=1)  # returns after the PUBACK
            await asyncio.to_thread(self.queue.delete, seqs)
            self.published += len(seqs)
            self.last_puback = self.clock()

    async def _send_live(self, client: aiomqtt.Client) -> None:
        """Publish what was sampled since the live readings were last sent."""
        while live := await asyncio.to_thread(self.queue.since, self._live_from,
                                              self.replay_slice):
            self._live_from = (live[-1].reading.seq or 0) + 1
            await self._send(client, live)

    async def flush(self, client: aiomqtt.Client) -> None:
        """Publish what was sampled since the last flush, then backlog (anything older
        still queued: an outage's, or a previous run's), oldest first, as much as
        ``replay_per_s`` allows since the previous flush, in slices of ``replay_slice``
        readings; readings sampled while a slice was out go before the next slice.

        The first flush on a connection treats only the latest sampling round as live:
        what was sampled while the broker was unreachable waits its turn as backlog
        instead of going out at once, whatever its size."""
        now = self.clock()
        if client is not self._connection:
            self._connection = client
            self._live_from = max(self._live_from, self._round_from)
            self._replay_budget, self._replay_at = 0.0, now - self.flush_interval_s
        await self._send_live(client)
        # A token bucket: the budget grows at replay_per_s, up to two flush intervals'
        # worth (a slow link does not build up a burst).
        cap = max(1.0, 2 * self.replay_per_s * self.flush_interval_s)
        self._replay_budget = min(cap, self._replay_budget
                                  + self.replay_per_s * max(0.0, now - self._replay_at))
        self._replay_at = now
        while self._replay_budget >= 1:
            limit = min(int(self._replay_budget), self.replay_slice)
            backlog = await asyncio.to_thread(self.queue.oldest, limit, below=self._live_from)
            if not backlog:
                self._replay_budget = 0.0  # no backlog: nothing to save up for
                break
            await self._send(client, backlog)
            self._replay_budget -= len(backlog)
            await self._send_live(client)

    def request_stop(self) -> None:
        """Shut down gracefully (call from the event loop, e.g. a signal handler): stop
        sampling, publish what is queued if connected (within ``shutdown_timeout_s``),
        publish the retained status ``offline``, write the status file ``stopped``; then
        :meth:`run` returns. Whatever is not published stays queued for the next run."""
        if not self._stopping.is_set():
            self._stop_by = time.monotonic() + self.shutdown_timeout_s
            self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _left(self) -> float:
        return max(0.0, self._stop_by - time.monotonic())

    async def _pause(self, seconds: float) -> None:
        """Sleep, waking at once when a stop is requested."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        raise_if_cancelling()

    async def run(self) -> None:
        """Sample, queue and publish until cancelled or :meth:`request_stop`; reconnect
        with backoff. Sampling goes on while the broker is unreachable: readings wait in
        the queue."""
        sampler = asyncio.create_task(self._sample_forever())
        attempt = 0
        topic = status_topic(self.pack.city.id, self.gateway.id)
        try:
            while not self.stopping:
                try:
                    async with self._client() as client:
                        attempt = 0
                        self.broker_error = None
                        await client.publish(topic, self._status("online"), qos=1, retain=True)
                        beat = self.clock()
                        while not self.stopping:
                            await self.flush(client)
                            await asyncio.to_thread(self.write_status_file, "online")
                            if self.clock() - beat >= self.heartbeat_s:
                                beat = self.clock()
                                await client.publish(topic, self._status("online"), qos=1,
                                                     retain=True)
                            await self._pause(self.flush_interval_s)
                        await self._stop_sampling(sampler)
                        await self._drain(client)
                        await self._say_offline(client, topic)
                except aiomqtt.MqttError as e:
                    raise_if_cancelling()  # a stop that aiomqtt's connect turned into this
                    if self._refuses_v5(e):
                        log.info("edge %s: broker refuses MQTT 5; using 3.1.1",
                                 self.gateway.id)
                        self._v5_refused = True
                        continue
                    self.broker_error = _describe(e)
                    if self.stopping:
                        log.warning("edge %s: broker lost while stopping (%s); what is not "
                                    "published stays queued", self.gateway.id,
                                    self.broker_error)
                        break
                    await asyncio.to_thread(self.write_status_file, "offline")
                    delay = backoff_delay(attempt, base=0.5, cap=30)
                    attempt += 1
                    self._log_broker_error(e, delay)
                    await self._pause(delay)
            await self._stop_sampling(sampler)
        finally:
            sampler.cancel()
            if self.stopping:
                self.write_status_file("stopped")

    def _refuses_v5(self, e: aiomqtt.MqttError) -> bool:
        """Whether ``e`` is the broker refusing MQTT 5 while the agent tries it (auto)."""
        if self.broker.protocol != "auto" or self._v5_refused \
                or not isinstance(e, MqttConnectError):
            return False
        # 132 Unsupported Protocol Version (MQTT 5); 1 is the 3.1.1 CONNACK's code for it
        return getattr(e.rc, "value", e.rc) in (1, 132)

    def _log_broker_error(self, e: aiomqtt.MqttError, delay: float) -> None:
        b, depth = self.broker, self.queue.stats().depth
        if isinstance(e.__context__, ssl.SSLError):
            # A certificate problem does not mend itself: say what to check, loudly.
            log.error("edge %s: TLS to broker %s:%d failed: %s. Check the pack's broker.tls "
                      "(ca_file must hold the CA that signed the broker's certificate; "
                      "cert_file/key_file if the broker requires a client certificate); "
                      "%d readings queued; retrying in %.1fs", self.gateway.id, b.host,
                      b.port, self.broker_error, depth, delay)
        else:
            log.warning("edge %s: broker unreachable (%s); %d readings queued; "
                        "reconnecting in %.1fs", self.gateway.id, self.broker_error, depth,
                        delay)

    async def _stop_sampling(self, sampler: asyncio.Task[None]) -> None:
        """Let the sampling round under way finish (its readings reach the queue), within
        the shutdown deadline; cancel it after that."""
        if sampler.done():
            return
        await asyncio.wait({sampler}, timeout=self._left())
        if not sampler.done():
            log.warning("edge %s: a sampling round did not finish in time; cancelled",
                        self.gateway.id)
            sampler.cancel()
            await asyncio.wait({sampler})

    async def _drain(self, client: aiomqtt.Client) -> None:
        """Publish everything queued, oldest first, until the shutdown deadline."""
        try:
            async with asyncio.timeout(self._left()):
                while batch := await asyncio.to_thread(self.queue.oldest, 5000):
                    await self._send(client, batch)
        except TimeoutError:
            log.warning("edge %s: shutdown deadline (%.0fs) reached while publishing the "
                        "queue", self.gateway.id, self.shutdown_timeout_s)

    async def _say_offline(self, client: aiomqtt.Client, topic: str) -> None:
        """The retained status ``offline``, now (a clean disconnect sends no last will)."""
        try:
            async with asyncio.timeout(2.0):
                await client.publish(topic, self._status("offline"), qos=1, retain=True)
        except TimeoutError:
            log.warning("edge %s: no PUBACK for the offline status", self.gateway.id)

    async def _sample_forever(self) -> None:
        while not self.stopping:
            await self.sample_due()
            # Wake when the next sensor is due (checking at least every second or flush
            # interval), so a sensor's interval is its interval, not its interval plus the
            # time the round took.
            due = min(self._next_due.values(), default=math.inf) - self.clock()
            await self._pause(max(0.0, min(due, 1.0, self.flush_interval_s)))


def _describe(e: aiomqtt.MqttError) -> str:
    """The broker error with its cause (aiomqtt keeps e.g. an ssl error as the context)."""
    cause = e.__context__
    text = str(e) or type(e).__name__
    if isinstance(cause, OSError) and str(cause) and str(cause) not in text:
        text = f"{text}: {cause}"
    return text


def _check(domain: Domain, name: str, value: object) -> str | None:
    """Why a driver's field is not a valid reading of ``domain``, or None."""
    spec = DOMAINS[domain].get(name)
    if spec is None:
        return f"unknown field {name!r:.60}"
    if spec.kind is Kind.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool) \
            and math.isfinite(value)
    elif spec.kind is Kind.STRING:
        ok = isinstance(value, str) and (not spec.choices or value in spec.choices)
    else:
        ok = isinstance(value, bool)
    return None if ok else f"{name}={value!r:.60} (expected {spec.kind.name.lower()})"
