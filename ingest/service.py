"""The ingester: MQTT in, the store out, a PUBACK only once a reading is durable.

One connection, one TaskGroup: the connection watch, a flush timer and the writer.
Messages are decoded as they arrive and batched; a batch is written when it reaches
``batch_lines`` points, when the unacknowledged messages reach half the in-flight window,
or every ``flush_interval_s``. Only after the store accepted the batch (or, for refused messages,
after the dead-letter store kept them) are the messages acknowledged, so a crash at any
point leaves them with the broker, which redelivers them; idempotent points make the
redelivery harmless.

Messages are decoded in paho's read loop (a callback on the aiomqtt client's paho client),
not through aiomqtt's message iterator, which costs a task per message.

The broker bounds the work in flight, since the ingester acknowledges manually: with MQTT 5
it announces Receive Maximum = ``max_inflight``; with MQTT 3.1.1 (the default, faster with
paho) the broker's ``max_inflight_messages`` sets the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import orjson
from paho.mqtt.client import MQTTMessage
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from prometheus_client import CollectorRegistry

from cityhub.backoff import backoff_delay
from cityhub.config.pack import CityPack
from cityhub.errors import DecodeError
from cityhub.metrics import serve_metrics
from cityhub.mqtt import tls_context
from cityhub.point import Point
from cityhub.store.base import Store
from cityhub.topics import deadletter_topic, telemetry_filter
from ingest.counters import IngestCollector, IngestCounters
from ingest.deadletters import DeadLetters
from ingest.decoder import Decoder
from ingest.settings import IngestSettings
from ingest.spool import Spool
from ingest.writer import DurableWriter, Refused

__all__ = ["Ingester"]

log = logging.getLogger("cityhub.ingest")
SESSION_EXPIRY_S = 7 * 24 * 3600


@dataclass
class _Batch:
    points: list[Point] = field(default_factory=list)
    owner: list[int] = field(default_factory=list)  # points[i] came from messages[owner[i]]
    messages: list[tuple[int, str, bytes]] = field(default_factory=list)  # mid, topic, payload
    dead: list[tuple[str, bytes, str, str]] = field(default_factory=list)
    dead_mids: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.messages) + len(self.dead_mids)


class Ingester:
    """Consumes telemetry of one city and stores it. Use :meth:`run` inside a TaskGroup."""

    def __init__(self, settings: IngestSettings, pack: CityPack, store: Store,
                 deadletters: DeadLetters, spool: Spool, *, password: str | None = None
                 ) -> None:
        self.settings = settings
        self.pack = pack
        self.store = store
        self.deadletters = deadletters
        self.password = password
        self.decoder = Decoder(pack, max_future_s=settings.max_future_s)
        self.counters = IngestCounters()
        self.writer = DurableWriter(store, spool, self.counters)
        self.registry = CollectorRegistry()
        self.registry.register(IngestCollector(self.counters))
        self.connected = asyncio.Event()
        self.metrics_port: int | None = None
        self._batch = _Batch()
        self._half_window = max(1, settings.max_inflight // 2)
        # Full batches wait here for the writer, so decoding the next batch overlaps with
        # writing this one. Not bounded here: the broker sends at most its in-flight window
        # of unacknowledged messages, which bounds every batch in memory (backpressure).
        self._full: asyncio.Queue[_Batch] = asyncio.Queue()
        self._refused: asyncio.Queue[tuple[list[Point], str]] = asyncio.Queue()

    def health(self) -> tuple[bool, dict[str, object]]:
        """Healthy while connected and the store or the spool takes batches."""
        spool = self.writer.spool
        full = spool.bytes >= spool.max_bytes * 0.95
        ok = self.connected.is_set() and not (self.writer.store_down and full)
        return ok, {"connected": self.connected.is_set(), "store_down": self.writer.store_down,
                    "spool_bytes": spool.bytes, "spool_batches": spool.batches,
                    **self.counters.snapshot()}

    def _client(self, *, clean: bool = False) -> aiomqtt.Client:
        """A client on this ingester's persistent session; ``clean`` ends the session
        instead (the broker discards it and everything queued for it)."""
        b = self.settings.broker
        v5 = b.protocol == "5"
        kwargs: dict[str, Any] = {}
        if v5:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 0 if clean else SESSION_EXPIRY_S
            props.ReceiveMaximum = self.settings.max_inflight
            kwargs = {"clean_start": clean, "properties": props}
        else:
            kwargs = {"clean_session": clean}
        client = aiomqtt.Client(
            b.host, b.port, identifier=self.settings.client_id, username=b.username,
            password=self.password, keepalive=b.keepalive_s, tls_context=tls_context(b),
            protocol=aiomqtt.ProtocolVersion.V5 if v5 else aiomqtt.ProtocolVersion.V311,
            **kwargs)
        # aiomqtt has no manual-ack switch of its own: ask its paho client directly, so a
        # PUBACK is sent only when we call ack() after the write.
        client._client.manual_ack_set(True)
        # Decode in paho's read loop instead of aiomqtt's per-message queue and task.
        client._client.on_message = self._on_message
        return client

    def _filters(self) -> list[str]:
        group = self.settings.shared_group
        return [f"$share/{group}/{f}" if group else f
                for f in telemetry_filter(self.pack.city.id)]

    async def run(self) -> None:
        """Serve metrics, replay the spool, and consume until cancelled."""
        s = self.settings
        async with contextlib.AsyncExitStack() as stack:
            if s.metrics_port is not None:
                self.metrics_port = await stack.enter_async_context(
                    serve_metrics(self.registry, self.health, host=s.metrics_host,
                                  port=s.metrics_port))
                log.info("ingest: metrics at http://%s:%d/metrics", s.metrics_host,
                         self.metrics_port)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.writer.replay(self._refused))
                tg.create_task(self._consume_forever())

    async def retire(self, *, idle_s: float = 3.0) -> None:
        """Leave the shared group for good (scaling down): resume this ingester's
        session, unsubscribe, store what the broker still holds for it and what its spool
        holds, then end the session.

        A stopped member's persistent session stays in the group, and Mosquitto keeps
        routing that member's share to it, to wait there until it comes back. Retiring
        hands the remaining members the whole stream and leaves nothing behind. Done when
        no message came for ``idle_s``, every received one is acknowledged and the spool
        is empty.
        """
        self._reset_batches()
        async with self._client() as client:
            for f in self._filters():
                await client.unsubscribe(f)
            log.info("ingest: retiring %s: unsubscribed; storing what its session holds",
                     self.settings.client_id)
            async with asyncio.TaskGroup() as tg:
                tasks = [*self._serve_connection(tg, client),
                         tg.create_task(self.writer.replay(self._refused))]
                seen, quiet_since = -1, asyncio.get_running_loop().time()
                while True:
                    await asyncio.sleep(0.1)
                    now = asyncio.get_running_loop().time()
                    c = self.counters
                    if c.received != seen:
                        seen, quiet_since = c.received, now
                    elif (now - quiet_since >= idle_s and c.acked == c.received
                          and self.writer.spool.batches == 0 and self._refused.empty()):
                        break
                for t in tasks:
                    t.cancel()
        async with self._client(clean=True):
            pass
        log.info("ingest: retired %s: %d messages stored or dead-lettered; session ended",
                 self.settings.client_id, self.counters.acked)

    def _reset_batches(self) -> None:
        """Forget a lost connection's batches (the broker redelivers their messages).
        Called before connecting: a persistent session's messages arrive right after the
        CONNACK, before any subscription is confirmed."""
        self._batch = _Batch()
        self._full = asyncio.Queue()

    def _serve_connection(self, tg: asyncio.TaskGroup, client: aiomqtt.Client
                          ) -> list[asyncio.Task[None]]:
        """The tasks of one connection: its watch, the flush timer, the writer that makes
        batches durable and acknowledges them, and the dead-lettering of refused spool
        batches."""
        return [tg.create_task(self._until_disconnected(client)),
                tg.create_task(self._timer()),
                tg.create_task(self._write_batches(client)),
                tg.create_task(self._dead_letter_refused(client))]

    async def _consume_forever(self) -> None:
        """Connect, consume and store; reconnect with backoff."""
        attempt = 0
        while True:
            self._reset_batches()
            try:
                async with self._client() as client:
                    for f in self._filters():
                        await client.subscribe(f, qos=1)
                    attempt = 0
                    self.connected.set()
                    log.info("ingest: connected to %s:%s, subscribed %s",
                             self.settings.broker.host, self.settings.broker.port,
                             ", ".join(self._filters()))
                    self.counters.connected = True
                    async with asyncio.TaskGroup() as tg:
                        self._serve_connection(tg, client)
            except aiomqtt.MqttError as e:
                self.connected.clear()
                self.counters.connected = False
                delay = backoff_delay(attempt, base=0.5, cap=30)
                attempt += 1
                log.warning("ingest: broker connection lost (%s); reconnecting in %.1fs",
                            e, delay)
                await asyncio.sleep(delay)

    def _on_message(self, _client: object, _userdata: object, msg: MQTTMessage) -> None:
        """paho's message callback, run inside its read loop: decode and batch at once.

        Installed on the aiomqtt client's paho client instead of aiomqtt's own queueing
        callback (see :meth:`_client`), which costs a task and an ``asyncio.wait`` per
        message. Synchronous, so it never waits: memory is bounded by the broker's
        in-flight window instead, since nothing is acknowledged before it is durable.
        """
        self.counters.received += 1
        payload = bytes(msg.payload)  # the same object when it is bytes already
        try:
            topic = msg.topic
            points = self.decoder.decode(topic, payload)
        except DecodeError as e:
            self._batch.dead.append((topic, payload, e.reason, str(e)))
            self._batch.dead_mids.append(msg.mid)
        except UnicodeDecodeError as e:
            topic = bytes(msg._topic).decode("utf-8", "replace")
            self._batch.dead.append((topic, payload, "topic", f"topic is not UTF-8: {e}"))
            self._batch.dead_mids.append(msg.mid)
        else:
            b = self._batch
            b.owner.extend([len(b.messages)] * len(points))
            b.points.extend(points)
            b.messages.append((msg.mid, topic, payload))
        if len(self._batch.points) >= self.settings.batch_lines \
                or len(self._batch) >= self._half_window:
            self.flush()

    async def _until_disconnected(self, client: aiomqtt.Client) -> None:
        """Messages arrive through :meth:`_on_message`, so aiomqtt's iterator yields
        none; it raises :class:`aiomqtt.MqttError` when the connection drops."""
        async for _ in client.messages:
            log.error("ingest: a message bypassed the decoder callback")

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            self.flush()

    def flush(self) -> None:
        """Hand the current batch to the writer."""
        batch, self._batch = self._batch, _Batch()
        if len(batch):
            self._full.put_nowait(batch)

    async def _write_batches(self, client: aiomqtt.Client) -> None:
        """One writer per connection, in order: make each batch durable, then ack it."""
        while True:
            await self._persist_and_ack(client, await self._full.get())

    async def _persist_and_ack(self, client: aiomqtt.Client, batch: _Batch) -> None:
        if batch.points:
            try:
                await self.writer.persist(batch.points)
            except Refused as e:
                # The message of a refused point is kept whole as a dead letter; its
                # other points, and every other message's, are stored.
                reasons: dict[int, str] = {}
                for i, reason in e.bad:
                    reasons.setdefault(batch.owner[i], reason)
                log.error("ingest: store refused %d point(s) of %d message(s): %s",
                          len(e.bad), len(reasons), e)
                batch.dead.extend((batch.messages[m][1], batch.messages[m][2],
                                   "store_refused", r) for m, r in reasons.items())
        if batch.dead:
            await self._dead_letter(client, batch.dead)
        for mid in [m for m, _, _ in batch.messages] + batch.dead_mids:
            client._client.ack(mid, 1)
        self.counters.acked += len(batch)

    async def _dead_letter_refused(self, client: aiomqtt.Client) -> None:
        """Spooled batches the store refused on replay: kept as dead letters."""
        while True:
            points, reason = await self._refused.get()
            rows = [[p.measurement, dict(p.tags), dict(p.fields), p.time_ns] for p in points]
            log.error("ingest: store refused %d spooled points: %s", len(points), reason)
            await self._dead_letter(client, [("(spool)", orjson.dumps(rows), "store_refused",
                                              reason)])

    async def _dead_letter(self, client: aiomqtt.Client,
                           items: list[tuple[str, bytes, str, str]]) -> None:
        await asyncio.to_thread(self.deadletters.add_many, items)
        for topic, payload, reason, detail in items:
            self.counters.dead_lettered[reason] += 1
            log.warning("ingest: dead letter (%s) on %s: %s", reason, topic[:200], detail[:300])
            if self.settings.publish_deadletters:
                body = orjson.dumps({"topic": topic, "reason": reason, "detail": detail,
                                     "payload": payload[:4096].decode("utf-8", "replace")})
                await client.publish(deadletter_topic(self.pack.city.id), body, qos=1)
