"""The analytics service: telemetry in; derived series to the store and events to the
broker out; a PUBACK once the message is in the service's inbox log on disk.

One connection to read (:class:`~subscriber.AckClient`: its own shared-subscription group
and persistent session, acknowledging only when told), one to publish events (aiomqtt:
each publish returns after the broker's PUBACK), one TaskGroup: the connection watch, a
flush timer and the processor. Messages are decoded with the contract's decoder
(:mod:`cityhub.contract`) as they are read, and batched; the processor takes one batch at
a time:

1. appends its messages to the inbox log (flushed to disk) and acknowledges them;
2. the engine (:class:`~analytics.live.engine.Engine`) makes derived points and events;
3. the points are written to the store (retried with backoff while the store is down or
   slow; meanwhile no later batch is logged nor acknowledged, so reading stops at
   ``max_inflight`` unacknowledged messages and the broker keeps the rest);
4. each event is published (QoS 1) unless the journal says it already was, then
   journalled;
5. every ``checkpoint_interval_s`` (or once the log holds ``checkpoint_log_bytes``) the
   engine's state is saved, which empties the log and the journal.

A restart, or a lost connection, resumes from the checkpoint and runs the log through the
engine again: the same derived points, no event twice (:mod:`analytics.live.checkpoint`).
Malformed telemetry is counted by reason and acknowledged: the ingester dead-letters and
keeps it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from dataclasses import dataclass, field

import aiomqtt

from analytics.live.checkpoint import StateDir
from analytics.live.engine import Engine
from analytics.metrics import AnalyticsMetrics
from analytics.outputs import Outputs
from analytics.rivers import LinkLag, refined_travel, river_lags
from analytics.settings import AnalyticsSettings
from cityhub.backoff import backoff_delay
from cityhub.config.pack import CityPack
from cityhub.contract import decode_telemetry
from cityhub.errors import DecodeError, HubError
from cityhub.metrics import serve_metrics
from cityhub.mqtt import tls_context
from cityhub.senml import Reading
from cityhub.signals import raise_if_cancelling
from cityhub.store.base import Store
from cityhub.topics import telemetry_filter
from subscriber import AckClient, InflightWindow, MqttError, session_properties, shared

__all__ = ["AnalyticsService"]

log = logging.getLogger("cityhub.analytics")


@dataclass
class _Batch:
    readings: list[Reading] = field(default_factory=list)
    messages: list[tuple[str, bytes]] = field(default_factory=list)  # decoded ones
    mids: list[int] = field(default_factory=list)
    count: int = 0
    started: float = 0.0  # time.monotonic() of the first message


class AnalyticsService:
    """Streaming analytics of one city. Use :meth:`run` (until cancelled).

    ``settings`` are that city's (:meth:`AnalyticsSettings.for_city
    <analytics.settings.AnalyticsSettings.for_city>`: its session, its state directory);
    a process serving several cities runs one each (:mod:`analytics.cities`), sharing
    ``store``."""

    def __init__(self, settings: AnalyticsSettings, pack: CityPack, store: Store,
                 state: StateDir, *, password: str | None = None) -> None:
        self.settings = settings
        self.pack = pack
        self.store = store
        self.state = state
        self.password = password
        self.engine = Engine(pack, settings.detection)
        self.metrics = AnalyticsMetrics()
        self.connected = asyncio.Event()
        self.metrics_port: int | None = None
        self._max_future_ns = int(settings.max_future_s * 1e9)
        self._batch = _Batch()
        self._full: asyncio.Queue[_Batch] = asyncio.Queue()
        self._window = InflightWindow(settings.max_inflight)
        self.outputs = Outputs(store, state, self.metrics)
        self._last_checkpoint = time.monotonic()
        self._dirty = False  # the engine has taken messages since the last checkpoint
        self._replay: list[tuple[str, bytes]] = []  # the inbox log, to run through first

    def restore(self) -> bool:
        """Load the last checkpoint, if any; whether there was one."""
        saved = self.state.load()
        if saved is None:
            self._replay = self.state.logged()
            log.info("analytics: no checkpoint in %s: starting with a cold state (%d messages "
                     "logged)", self.state.path, len(self._replay))
            return False
        self.engine.restore(saved)
        self._replay = self.state.logged()
        log.info("analytics: resumed from the checkpoint in %s (%d messages logged and %d "
                 "events journalled since)", self.state.path, len(self._replay),
                 len(self.outputs.published))
        return True

    def health(self) -> tuple[bool, dict[str, object]]:
        """Healthy while connected and the store takes the derived points."""
        down = self.outputs.store_down
        ok = self.connected.is_set() and not down
        return ok, {"connected": self.connected.is_set(), "store_down": down,
                    "unacknowledged": self._window.held, **self.metrics.snapshot()}

    async def run(self) -> None:
        """Restore, serve metrics (unless ``metrics_port`` is null: a process serving
        several cities serves theirs on one endpoint, :mod:`analytics.cities`), and
        consume until cancelled."""
        s = self.settings
        self.restore()
        async with contextlib.AsyncExitStack() as stack:
            if s.metrics_port is not None:
                self.metrics_port = await stack.enter_async_context(serve_metrics(
                    self.metrics.registry, self.health, host=s.metrics_host,
                    port=s.metrics_port))
                log.info("analytics: metrics at http://%s:%d/metrics", s.metrics_host,
                         self.metrics_port)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._consume_forever(), name="analytics consume")
                if self._gauge_links():
                    tg.create_task(self._refine_rivers_forever(), name="analytics rivers")

    # -- river links ------------------------------------------------------------------------
    def _gauge_links(self) -> list[tuple[str, str]]:
        """The pack's river links with a gauge at both ends: those history can refine."""
        return [(link.upstream, link.downstream) for r in self.pack.rivers for link in r.links
                if link.downstream in self.pack.sensors]

    async def _refine_rivers_forever(self) -> None:
        while True:
            await self.refine_rivers()
            await asyncio.sleep(self.settings.detection.river_lag_every_s)

    async def refine_rivers(self, now: float | None = None) -> list[LinkLag]:
        """Correlate each gauge-to-gauge river link over the last ``river_lag_days`` of
        stored levels (:func:`analytics.rivers.river_lags`), and narrow the travel range
        its flood forecasts use to the lag found where the rises match well enough
        (:func:`analytics.rivers.refined_travel`); else the pack's range. A store that
        does not answer leaves the ranges as they are until the next try."""
        flood = self.engine.flood
        if flood is None or not self._gauge_links():
            return []
        d = self.settings.detection
        stop = dt.datetime.fromtimestamp(time.time() if now is None else now, dt.UTC)
        try:
            lags = await river_lags(self.pack, self.store,
                                    stop - dt.timedelta(days=d.river_lag_days), stop)
        except HubError as e:
            log.warning("analytics: river links not correlated (the forecasts keep their "
                        "ranges until the next try): %s", e)
            return []
        for lag in lags:
            if lag.downstream not in self.pack.sensors:
                continue
            travel = refined_travel(lag.travel_h, lag, min_correlation=d.river_lag_min_correlation,
                                    margin=d.river_lag_margin)
            refined = None if travel is None or lag.lag_h is None or lag.correlation is None \
                else (travel, lag.lag_h, lag.correlation)
            flood.refine(lag.upstream, lag.downstream, refined)
            labels = (lag.upstream, lag.downstream)
            self.metrics.river_lag.labels(*labels).set(
                float("nan") if lag.lag_h is None else lag.lag_h)
            self.metrics.river_correlation.labels(*labels).set(
                float("nan") if lag.correlation is None else lag.correlation)
            self.metrics.river_refined.labels(*labels).set(int(refined is not None))
            if refined is not None:
                log.info("analytics: river link %s -> %s: the history's lag %.2f h "
                         "(correlation %.2f); forecasts use %s h (the pack's %s h)",
                         *labels, lag.lag_h, lag.correlation, list(travel or ()),
                         list(lag.travel_h))
            elif lag.within is False:
                log.warning("analytics: river link %s -> %s: the history's lag %.2f h lies "
                            "outside the pack's travel_h %s h: forecasts keep the pack's "
                            "range; check the link (cityhub analytics rivers)",
                            *labels, lag.lag_h, list(lag.travel_h))
            else:
                log.info("analytics: river link %s -> %s: %s; forecasts keep the pack's "
                         "travel_h %s h", *labels,
                         lag.note if lag.lag_h is None else
                         f"correlation {lag.correlation} under {d.river_lag_min_correlation}",
                         list(lag.travel_h))
        return lags

    # -- connections ------------------------------------------------------------------------
    def _reader(self) -> AckClient:
        b = self.settings.broker
        props = session_properties(b.protocol, self.settings.max_inflight)
        client = self._window.client = AckClient(
            b.host, b.port, client_id=self.settings.client_id, on_publish=self._on_publish,
            protocol=b.protocol, clean=False, properties=props, username=b.username,
            password=self.password, keepalive=b.keepalive_s, tls_context=tls_context(b),
            ack_timeout_s=max(10.0, 2.0 * b.keepalive_s))
        return client

    def _publisher(self) -> aiomqtt.Client:
        b = self.settings.broker
        return aiomqtt.Client(
            b.host, b.port, identifier=f"{self.settings.client_id}-events",
            username=b.username, password=self.password, keepalive=b.keepalive_s,
            tls_context=tls_context(b),
            protocol=aiomqtt.ProtocolVersion.V5 if b.protocol == "5"
            else aiomqtt.ProtocolVersion.V311)

    def _filters(self) -> list[str]:
        return shared(telemetry_filter(self.pack.city.id), self.settings.shared_group)

    async def _consume_forever(self) -> None:
        attempt = 0
        while True:
            self._reset()
            lost: BaseException | None = None
            try:
                async with self._publisher() as events, self._reader() as client, \
                        asyncio.TaskGroup() as tg:
                    tg.create_task(self._until_disconnected(client))
                    tg.create_task(self._until_events_lost(events))
                    tg.create_task(self._timer())
                    tg.create_task(self._process(client, events))
                    for f in self._filters():
                        await client.subscribe(f, qos=1)
                    attempt = 0
                    self.connected.set()
                    self.metrics.connected.set(1)
                    log.info("analytics: connected to %s:%s, subscribed %s",
                             self.settings.broker.host, self.settings.broker.port,
                             ", ".join(self._filters()))
                    # The body waits for the children: in Python 3.11 a child's error
                    # that comes once the body is done leaves this task marked as
                    # cancelling (its TaskGroup never uncancels it), which would read as
                    # a stop below. While the body waits, the TaskGroup cancels it and
                    # uncancels it itself.
                    await asyncio.get_running_loop().create_future()
            except* (MqttError, aiomqtt.MqttError) as group:
                lost = group.exceptions[0]
            # a stop that came while aiomqtt connected reaches here as an MqttError: it
            # must stop the service, not be retried (a demo hung on it, once in CI)
            raise_if_cancelling()
            self.connected.clear()
            self.metrics.connected.set(0)
            delay = backoff_delay(attempt, base=0.5, cap=30)
            attempt += 1
            log.warning("analytics: broker connection lost (%s); reconnecting in %.1fs",
                        lost, delay)
            await asyncio.sleep(delay)

    def _reset(self) -> None:
        """Start a connection as a restart would, if anything was taken since the last
        checkpoint: from that checkpoint, its inbox log run through again and its journal
        read again (whatever was made of those messages before the connection dropped,
        half written or not, is made again, the same); the broker redelivers what was not
        yet logged and acknowledged."""
        self._batch = _Batch()
        self._full = asyncio.Queue()
        self._window.reset()
        self.metrics.unacknowledged.set(0)
        if self._dirty:
            self.engine = Engine(self.pack, self.settings.detection)
            self.restore()
            self.outputs.published = self.state.published()
        self._dirty = False

    async def _until_disconnected(self, client: AckClient) -> None:
        await client.disconnected()

    @staticmethod
    async def _until_events_lost(events: aiomqtt.Client) -> None:
        """Raise :class:`aiomqtt.MqttError` when the events connection drops (it
        subscribes to nothing: its message iterator ends only then), so a lost broker is
        noticed on both connections, not at the next event."""
        async for _ in events.messages:
            pass
        raise aiomqtt.MqttError("the events connection closed")

    # -- reading ----------------------------------------------------------------------------
    def _on_publish(self, topic: str | None, qos: int, mid: int, payload: bytes) -> None:
        """One message, as the client reads it: decode and batch."""
        m = self.metrics
        m.messages.inc()
        b = self._batch
        if not b.count:
            b.started = time.monotonic()
        b.count += 1
        if qos:
            b.mids.append(mid)
            self._hold(1)
        try:
            if topic is None:
                raise DecodeError("topic", "topic is not UTF-8")
            _, readings = decode_telemetry(self.pack, topic, payload,
                                           now_ns=time.time_ns(),
                                           max_future_ns=self._max_future_ns)
        except DecodeError as e:
            m.refused.labels(e.reason).inc()
            log.debug("analytics: refused a message on %s: %s", (topic or "")[:200], e)
        else:
            b.readings += readings
            b.messages.append((topic, payload))
            m.readings.inc(len(readings))
        if len(b.readings) >= self.settings.batch_readings or b.count >= self._window.half:
            self._flush()

    def _hold(self, change: int) -> None:
        """Reading pauses at ``max_inflight`` unacknowledged messages and resumes at half
        (:class:`~subscriber.InflightWindow`)."""
        self._window.hold(change)
        self.metrics.unacknowledged.set(self._window.held)

    async def _timer(self) -> None:
        interval = self.settings.flush_interval_s
        while True:
            await asyncio.sleep(interval / 4)
            b = self._batch
            if b.count and time.monotonic() - b.started >= interval:
                self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, _Batch()
        if batch.count:
            self._full.put_nowait(batch)

    # -- processing -------------------------------------------------------------------------
    async def _process(self, client: AckClient, events: aiomqtt.Client) -> None:
        if self._replay:
            await self._run_log(events)
        while True:
            try:
                async with asyncio.timeout(self.settings.checkpoint_interval_s):
                    batch = await self._full.get()
            except TimeoutError:
                if self._dirty:  # a quiet stream: save what changed
                    self._checkpoint()
                continue
            await asyncio.to_thread(self.state.log, batch.messages)
            client.ack(batch.mids)
            self._hold(-len(batch.mids))
            self._dirty = True
            points, out = self.engine.process(batch.readings)
            self.metrics.late.set(self.engine.late)
            await self.outputs.write(points)
            await self.outputs.publish(events, out)
            self.metrics.batch_seconds.observe(time.monotonic() - batch.started)
            due = time.monotonic() - self._last_checkpoint >= self.settings.checkpoint_interval_s
            if due or self.state.inbox_bytes >= self.settings.checkpoint_log_bytes:
                self._checkpoint()

    async def _run_log(self, events: aiomqtt.Client) -> None:
        """Run the inbox log (what was taken since the checkpoint) through the engine
        again, as it was taken: the same points, and the events not yet published."""
        logged, self._replay = self._replay, []
        self._dirty = True
        step = self.settings.batch_readings
        for lo in range(0, len(logged), 500):
            readings: list[Reading] = []
            for topic, payload in logged[lo:lo + 500]:
                try:  # no clock check: it passed when the message was taken
                    readings += decode_telemetry(self.pack, topic, payload, now_ns=0,
                                                 max_future_ns=2**62)[1]
                except DecodeError as e:  # a pack changed since: the message is kept
                    log.warning("analytics: a logged message of %s no longer decodes "
                                "(%s); left out", topic[:200], e)
            for k in range(0, len(readings), step):
                points, out = self.engine.process(readings[k:k + step])
                await self.outputs.write(points)
                await self.outputs.publish(events, out)
        self.metrics.replayed.inc(len(logged))
        log.info("analytics: ran the %d logged messages through again", len(logged))
        self._checkpoint()

    def _checkpoint(self) -> None:
        """Save the engine's state (which empties the inbox log and the journal)."""
        size = self.state.save(self.engine.state())
        self.outputs.published.clear()
        self._dirty = False
        self._last_checkpoint = time.monotonic()
        self.metrics.checkpoints.inc()
        self.metrics.checkpoint_bytes.set(size)
