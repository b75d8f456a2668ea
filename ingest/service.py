"""The ingester: MQTT in, the store out, a PUBACK only once a reading is durable.

One connection, one TaskGroup: the connection watch, a flush timer, the writer and its
batch writes. Messages are decoded as they arrive and batched; a batch holds at most
``batch_lines`` points (the message that would pass it starts the next batch), and is
written when full, when it holds half of ``max_inflight`` messages, or when its first
message is ``flush_interval_s`` old. Up to ``store_writes`` batches are written at once.
Only after the store accepted a batch (or, for refused messages, after the dead-letter
store kept them) are its messages acknowledged, in arrival order, so a crash at any point
leaves them with the broker, which redelivers them; idempotent points make the redelivery
harmless.

Messages are decoded as the MQTT client reads them (in the read event: paho's
``on_message``, or the fast path's own PUBLISH parsing), not through a queue and a task per
message; the client acknowledges only when told to, and a batch's PUBACKs go out together.
The fast path is used where the installed paho-mqtt has the internals it needs (checked at
start, :meth:`Ingester._check_fast_mqtt`), else paho's public API (:mod:`subscriber.client`).

Work in flight is bounded by the ingester itself: it stops reading from the broker while
it holds ``max_inflight`` unacknowledged messages and reads again once half of them are
acknowledged; TCP flow control makes the broker keep the rest. (With MQTT 5 it also
announces Receive Maximum = ``max_inflight``, but Mosquitto 2.0.11 stops honouring a
client's window after the first PUBACK; see :mod:`subscriber.client`.)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import importlib.metadata
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson
from prometheus_client import CollectorRegistry, Gauge

from cityhub.backoff import backoff_delay
from cityhub.config.pack import CityPack
from cityhub.errors import DecodeError, SinkError
from cityhub.lineprotocol import encode_lines
from cityhub.metrics import serve_metrics
from cityhub.mqtt import tls_context
from cityhub.point import Encoded, Point
from cityhub.store.base import Store
from cityhub.topics import city_of, deadletter_topic, telemetry_filter
from ingest.counters import IngestCollector, IngestCounters
from ingest.deadletters import DeadLetters
from ingest.decoder import DECODER_PATH, Decoder
from ingest.mqtt_fast import FastIngestClient, missing_private_names
from ingest.settings import IngestSettings
from ingest.spool import Spool
from ingest.writer import DurableWriter, Refused
from subscriber import AckClient, InflightWindow, MqttError, session_properties, shared

__all__ = ["Ingester"]

log = logging.getLogger("cityhub.ingest")
REBUILD_FUTURE_S = 1e12


@dataclass
class _Batch:
    # The line protocol of the decoded messages, in order (for a store that takes it).
    lines: bytearray = field(default_factory=bytearray)
    # Per decoded message: its points, or None when the compiled kernel wrote its lines
    # (its points are built again only if something asks for them); how many points.
    parts: list[list[Point] | None] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)  # per decoded message: where its lines end
    points: int = 0
    messages: list[tuple[str, bytes]] = field(default_factory=list)  # topic, payload
    dead: list[tuple[str, bytes, str, str]] = field(default_factory=list)
    mids: list[int] = field(default_factory=list)  # to acknowledge (QoS 1), in arrival order
    count: int = 0  # messages, acknowledged or not (QoS 0)
    started: float = 0.0  # time.monotonic() of the first message

    def __len__(self) -> int:
        return self.count

    @property
    def compiled_points(self) -> int:
        """The points whose lines the compiled kernel wrote (those a build makes again)."""
        return sum(n for part, n in zip(self.parts, self.counts, strict=True) if part is None)

    def encoded(self, rebuild: Callable[[str, bytes], list[Point]]) -> Encoded:
        """The batch's points as an :class:`Encoded` batch of its lines (taken from
        ``lines``, which is left empty), whose Point objects (when something asks for
        them) ``rebuild`` makes again from the messages the compiled kernel took."""
        parts, messages = self.parts, self.messages
        lines, self.lines = bytes(self.lines), bytearray()

        def build() -> list[Point]:
            out: list[Point] = []
            for part, (topic, payload) in zip(parts, messages, strict=True):
                out += rebuild(topic, payload) if part is None else part
            return out
        # Where each message ends, so a store can cut the batch between messages.
        ends = list(zip(self.ends, itertools.accumulate(self.counts), strict=True))
        return Encoded(lines, self.points, build, ends)

    def owners(self, points: list[int]) -> list[int]:
        """The message (index in ``messages``) of each of the batch's ``points``."""
        ends = list(itertools.accumulate(self.counts))
        return [bisect.bisect_right(ends, i) for i in points]


class Ingester:
    """Consumes telemetry of one city, or of several (one session subscribed to each
    city's telemetry; each message checked against its city's pack), and stores it. Use
    :meth:`run` inside a TaskGroup."""

    def __init__(self, settings: IngestSettings, packs: CityPack | Sequence[CityPack],
                 store: Store, deadletters: DeadLetters, spool: Spool, *,
                 password: str | None = None) -> None:
        self.settings = settings
        self.packs = [packs] if isinstance(packs, CityPack) else list(packs)
        self.store = store
        self.deadletters = deadletters
        self.password = password
        self.decoder = Decoder(self.packs, max_future_s=settings.max_future_s)
        # A store that takes line protocol gets the compiled kernel's lines; the points of
        # those messages are built again only if needed (spool, refused points), by a
        # decoder without the future-time check, which the lines already passed.
        self._lines = store.line_protocol
        self._rebuild = Decoder(self.packs, max_future_s=REBUILD_FUTURE_S).decode
        self.counters = IngestCounters()
        self.writer = DurableWriter(store, spool, self.counters)
        self.registry = CollectorRegistry()
        self.registry.register(IngestCollector(
            self.counters, self.decoder, DECODER_PATH if self._lines else "python"))
        self.fast_mqtt = self._check_fast_mqtt()
        Gauge("cityhub_ingest_mqtt_fast_path", "1: MQTT read and acknowledged through "
              "paho-mqtt's internals (the fast path); 0: through its public API",
              registry=self.registry).set(int(self.fast_mqtt))
        self.connected = asyncio.Event()
        self.metrics_port: int | None = None
        self._batch = _Batch()
        self._mqtt: AckClient | None = None
        self._window = InflightWindow(settings.max_inflight)
        # (UN)SUBACKs wait while reading is paused, so allow them a keepalive or two.
        self._ack_timeout_s = max(10.0, 2.0 * settings.broker.keepalive_s)
        # Full batches wait here for the writer, so decoding the next batch overlaps with
        # writing this one. Not bounded here: reading stops at max_inflight unacknowledged
        # messages, which bounds every batch in memory (backpressure).
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

    def _check_fast_mqtt(self) -> bool:
        """Whether to use the fast MQTT path: asked for, and every paho-mqtt internal it
        needs is there; if one is missing, say so, and use paho's public API."""
        if not self.settings.mqtt_fast_path:
            return False
        missing = missing_private_names()
        if missing:
            log.warning("ingest: paho-mqtt %s lacks %s, which the fast MQTT path uses; "
                        "reading through paho's public API instead (up to four times the CPU "
                        "per message; cityhub_ingest_mqtt_fast_path 0). Install the "
                        "paho-mqtt version pyproject.toml pins to get it back",
                        _paho_version(), ", ".join(missing))
            return False
        return True

    def _client(self, *, clean: bool = False) -> AckClient:
        """A client on this ingester's persistent session; ``clean`` ends the session
        instead (the broker discards it and everything queued for it)."""
        b = self.settings.broker
        props = session_properties(b.protocol, self.settings.max_inflight, clean=clean)
        # Messages are decoded as paho reads them (no per-message queue and task) and
        # acknowledged only by AckClient.ack, after the write.
        kind = FastIngestClient if self.fast_mqtt else AckClient
        self._mqtt = kind(
            b.host, b.port, client_id=self.settings.client_id, on_publish=self._on_publish,
            protocol=b.protocol, clean=clean, properties=props, username=b.username,
            password=self.password, keepalive=b.keepalive_s, tls_context=tls_context(b),
            ack_timeout_s=self._ack_timeout_s)
        self._window.client = self._mqtt
        return self._mqtt

    def _filters(self) -> list[str]:
        return shared([f for p in self.packs for f in telemetry_filter(p.city.id)],
                      self.settings.shared_group)

    async def check_store(self) -> bool:
        """Log what store answers (or that none does: batches then go to the spool until
        it does). Run before consuming; it also opens the store's connection, so the first
        batch does not pay for that."""
        try:
            log.info("ingest: store answers: %s", await self.store.ping())
        except SinkError as e:
            log.warning("ingest: store does not answer its ping (%s); batches go to the "
                        "spool while it takes no writes", e)
            return False
        return True

    async def run(self) -> None:
        """Check the store, serve metrics, replay the spool, and consume until cancelled."""
        s = self.settings
        await self.check_store()
        if DECODER_PATH != "compiled":
            log.warning("ingest: the compiled decoder kernel (ingest/kernel.pyx) is not "
                        "built, so messages are decoded in Python, several times slower; "
                        "reinstall the package where a C compiler is found")
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
        await self.check_store()
        async with self._client() as client, asyncio.TaskGroup() as tg:
            # Writing first: the session's messages may fill the in-flight limit and
            # pause reading before the UNSUBACK is read.
            tasks = [*self._serve_connection(tg, client),
                     tg.create_task(self.writer.replay(self._refused))]
            for f in self._filters():
                await client.unsubscribe(f)
            log.info("ingest: retiring %s: unsubscribed; storing what its session holds",
                     self.settings.client_id)
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
        self._window.reset()
        self.counters.unacked = 0
        self.counters.reading_paused = False

    def _serve_connection(self, tg: asyncio.TaskGroup, client: AckClient
                          ) -> list[asyncio.Task[None]]:
        """The tasks of one connection: its watch, the flush timer, the writer that makes
        batches durable and acknowledges them, and the dead-lettering of refused spool
        batches."""
        return [tg.create_task(self._until_disconnected(client)),
                tg.create_task(self._timer()),
                tg.create_task(self._write_batches(client, tg)),
                tg.create_task(self._dead_letter_refused(client))]

    async def _consume_forever(self) -> None:
        """Connect, consume and store; reconnect with backoff."""
        attempt = 0
        while True:
            self._reset_batches()
            lost: BaseException | None = None
            try:
                async with self._client() as client, asyncio.TaskGroup() as tg:
                    # Writing starts before subscribing: a persistent session's messages
                    # arrive right after the CONNACK and may fill the in-flight limit,
                    # which pauses reading (and the SUBACK) until batches are stored.
                    self._serve_connection(tg, client)
                    for f in self._filters():
                        await client.subscribe(f, qos=1)
                    attempt = 0
                    self.connected.set()
                    log.info("ingest: connected to %s:%s, subscribed %s",
                             self.settings.broker.host, self.settings.broker.port,
                             ", ".join(self._filters()))
                    self.counters.connected = True
            except* MqttError as group:  # from connecting, or from the TaskGroup
                lost = group.exceptions[0]
            self.connected.clear()
            self.counters.connected = False
            delay = backoff_delay(attempt, base=0.5, cap=30)
            attempt += 1
            log.warning("ingest: broker connection lost (%s); reconnecting in %.1fs",
                        lost, delay)
            await asyncio.sleep(delay)

    def _on_publish(self, topic: str | None, qos: int, mid: int, payload: bytes) -> None:
        """One message, handed over as paho reads it: decode and batch at once.

        Synchronous, so it never waits; memory is bounded instead by pausing the reader
        at ``max_inflight`` unacknowledged messages. A QoS 0 message (a publisher that
        ignored the contract's QoS 1) is stored like any other but has nothing to
        acknowledge.
        """
        self.counters.received += 1
        b = self._batch
        if not b.count:
            b.started = time.monotonic()
        b.count += 1
        if qos:
            b.mids.append(mid)
        self._hold(1)
        if topic is None:  # brokers refuse such a topic; kept in case one does not
            b.dead.append(("(not UTF-8)", payload, "topic", "topic is not UTF-8"))
        else:
            try:
                part: list[Point] | None = None
                n = self.decoder.compiled(topic, payload, b.lines) if self._lines \
                    else None
                if n is None:
                    part = self.decoder.decode(topic, payload)
                    n = len(part)
                    if self._lines:
                        b.lines += encode_lines(part)
            except DecodeError as e:
                b.dead.append((topic, payload, e.reason, str(e)))
            except Exception as e:  # a decoder bug must not stall the stream: keep it
                log.exception("ingest: decoder failed on a message of %s", topic[:200])
                b.dead.append((topic, payload, "internal", f"{type(e).__name__}: {e}"))
            else:
                if b.points and b.points + n > self.settings.batch_lines:
                    b = self._carry_last(b, qos, mid)
                b.parts.append(part)
                b.counts.append(n)
                b.ends.append(len(b.lines))
                b.points += n
                b.messages.append((topic, payload))
        if b.points >= self.settings.batch_lines or b.count >= self._window.half:
            self.flush()

    def _carry_last(self, b: _Batch, qos: int, mid: int) -> _Batch:
        """The message just decoded would take batch ``b`` past ``batch_lines``: hand
        ``b`` over without it and start the next batch with it (its lines, its packet id),
        so a batch holds at most ``batch_lines`` points unless one message alone has more.
        Returns the new batch, to which the caller adds the message."""
        start = b.ends[-1]
        tail = b.lines[start:]
        del b.lines[start:]
        b.count -= 1
        if qos:
            b.mids.pop()
        self.flush()
        nb = self._batch
        nb.started, nb.count = time.monotonic(), 1
        if qos:
            nb.mids.append(mid)
        nb.lines += tail
        return nb

    def _hold(self, change: int) -> None:
        """Count messages held (received, +) or let go (acknowledged, -): reading pauses
        at ``max_inflight`` held (backpressure: the broker keeps the rest) and resumes
        once no more than half of that are held."""
        w, c = self._window, self.counters
        w.hold(change)
        c.unacked, c.reading_paused = w.held, w.paused

    async def _until_disconnected(self, client: AckClient) -> None:
        """Raise :class:`MqttError` when the connection drops (messages arrive through
        :meth:`_on_publish`)."""
        await client.disconnected()

    async def _timer(self) -> None:
        """Write a batch once its oldest message is ``flush_interval_s`` old. (Measured
        from the batch's first message, not on fixed ticks: a tick would cut a batch that
        is filling fast into a small extra write.)"""
        interval = self.settings.flush_interval_s
        while True:
            await asyncio.sleep(interval / 4)
            b = self._batch
            if b.count and time.monotonic() - b.started >= interval:
                self.flush()

    def flush(self) -> None:
        """Hand the current batch to the writer."""
        batch, self._batch = self._batch, _Batch()
        if len(batch):
            self._full.put_nowait(batch)

    async def _write_batches(self, client: AckClient, tg: asyncio.TaskGroup) -> None:
        """Make batches durable, up to ``store_writes`` at once (the store works on one
        while the next is on its way), and acknowledge them in the order they came."""
        slots = asyncio.Semaphore(self.settings.store_writes)
        previous: asyncio.Task[None] | None = None
        while True:
            batch = await self._full.get()
            await slots.acquire()
            previous = tg.create_task(self._persist_and_ack(client, batch, previous, slots))

    async def _persist_and_ack(self, client: AckClient, batch: _Batch,
                               previous: asyncio.Task[None] | None,
                               slots: asyncio.Semaphore) -> None:
        refused: Refused | None = None
        encoded: Encoded | None = None
        try:
            if batch.points:
                try:
                    if self._lines:
                        encoded = batch.encoded(self._rebuild)
                    await self.writer.persist(
                        encoded if encoded is not None
                        else [p for part in batch.parts if part for p in part])
                except Refused as e:
                    refused = e
        finally:
            if encoded is not None and encoded.built:
                # Built (in a worker thread, for the spool) or not, counted here, on the
                # event loop, where the counters are only ever changed.
                self.counters.rebuilt_points += batch.compiled_points
            # The write is done: its slot goes to the next batch now, not once the batches
            # before this one are acknowledged too, or one slow write would hold every
            # slot and leave the store with nothing else to work on.
            slots.release()
        if previous is not None:
            await previous  # acknowledgements go out in arrival order
        if refused is not None:
            # The message of a refused point is kept whole as a dead letter; its
            # other points, and every other message's, are stored.
            reasons: dict[int, str] = {}
            owners = batch.owners([i for i, _ in refused.bad])
            for m, (_, reason) in zip(owners, refused.bad, strict=True):
                reasons.setdefault(m, reason)
            log.error("ingest: store refused %d point(s) of %d message(s): %s",
                      len(refused.bad), len(reasons), refused)
            batch.dead.extend((*batch.messages[m], "store_refused", r)
                              for m, r in reasons.items())
        if batch.dead:
            await self._dead_letter(client, batch.dead)
        # One write for the batch's PUBACKs, in the order the messages came (MQTT
        # 3.1.1 asks for that order).
        client.ack(batch.mids)
        self.counters.acked += len(batch)
        self._hold(-len(batch))

    async def _dead_letter_refused(self, client: AckClient) -> None:
        """Spooled batches the store refused on replay: kept as dead letters."""
        while True:
            points, reason = await self._refused.get()
            rows = [[p.measurement, dict(p.tags), dict(p.fields), p.time_ns] for p in points]
            log.error("ingest: store refused %d spooled points: %s", len(points), reason)
            await self._dead_letter(client, [("(spool)", orjson.dumps(rows), "store_refused",
                                              reason)])

    async def _dead_letter(self, client: AckClient,
                           items: list[tuple[str, bytes, str, str]]) -> None:
        await asyncio.to_thread(self.deadletters.add_many, items)
        for topic, payload, reason, detail in items:
            self.counters.dead_lettered[reason] += 1
            log.warning("ingest: dead letter (%s) on %s: %s", reason, topic[:200], detail[:300])
            if self.settings.publish_deadletters:
                body = orjson.dumps({"topic": topic, "reason": reason, "detail": detail,
                                     "payload": payload[:4096].decode("utf-8", "replace")})
                # Not awaited: its PUBACK may wait behind a paused reader, and the dead
                # letter is already durable in the dead-letter store.
                client.publish_nowait(deadletter_topic(self._city_of(topic)), body, qos=1)

    def _city_of(self, topic: str) -> str:
        """The city of a topic this ingester serves; else (the spool's, a foreign one)
        the first city's."""
        city = city_of(topic)
        return city if city in self.decoder.packs else self.packs[0].city.id


def _paho_version() -> str:
    try:
        return importlib.metadata.version("paho-mqtt")
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"
