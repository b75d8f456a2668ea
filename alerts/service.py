"""The alerts service: telemetry, gateway status and analytics events in; alarms in the
store, notifications out, an HTTP API for operators.

One :class:`AlertsService` per city (its pack's rules and departments, its own alarm
store, MQTT session and outbox). One TaskGroup: the HTTP server (API, ``/metrics``,
``/healthz``), and each city's sender (:class:`~alerts.dispatch.Dispatcher`, which keeps
sending while the broker is away: a webhook does not need the broker), clock (silence,
offline, escalation, expiry) and broker connection, which reconnects on its own. A
process serving several cities (``packs: [bandung, bogor]``) runs them in an
:class:`AlertsHub`: their tasks in one TaskGroup (one failing stops them all), one HTTP
server whose API picks the city per request (``?city=``), one ``/metrics`` with a ``city``
label (:func:`cityhub.metrics.per_city`) and one ``/healthz``
(:func:`cityhub.metrics.per_city_health`). One city alone runs the same way, as it did
before there were several: :meth:`AlertsService.run` serves its own HTTP.

Reading: one :class:`~subscriber.AckClient` (persistent session, its own shared group
for telemetry and events; a plain subscription for gateway status, which is retained).
Messages are batched; a batch's conditions are applied to the store in one transaction
(alarms, audit entries, outbox) and only then are its messages acknowledged. So a crash
loses nothing: the broker redelivers what was not committed, and a replayed reading opens
the same alarm (its id is a hash of the rule, the source and the opening time).

The rules' memory (a "for" duration under way, a rate's window) is not saved: after a
restart a "for" starts again, and the open alarms tell the rules which conditions are
active, so a clearing reading still resolves them.

The departments' run-time subscriptions are read from the store at start, again at once
when the API changes them (:meth:`AlertsService.reload_subscriptions`), and every
``SUBSCRIPTIONS_REFRESH_S`` by the clock, for a change another process made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import orjson
from prometheus_client import CollectorRegistry

from alerts.channels.base import Channel
from alerts.dispatch import Dispatcher
from alerts.metrics import AlertsMetrics
from alerts.model import Alarm
from alerts.outbox import Intent
from alerts.repository import AlarmRepository, Applied
from alerts.routing import Router
from alerts.rules import Condition, Rules
from alerts.settings import AlertsSettings
from alerts.silences import Silence
from cityhub.backoff import backoff_delay
from cityhub.config.pack import CityPack
from cityhub.contract import decode_telemetry
from cityhub.errors import DecodeError
from cityhub.metrics import Health, per_city, per_city_health
from cityhub.mqtt import tls_context
from cityhub.senml import Reading
from cityhub.signals import raise_if_cancelling
from cityhub.topics import event_filter, telemetry_filter
from subscriber import AckClient, InflightWindow, MqttError, session_properties, shared

__all__ = ["SUBSCRIPTIONS_REFRESH_S", "AlertsHub", "AlertsService"]

log = logging.getLogger("cityhub.alerts")

SUBSCRIPTIONS_REFRESH_S = 10.0


@dataclass
class _Batch:
    readings: list[Reading] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    mids: list[int] = field(default_factory=list)
    count: int = 0
    started: float = 0.0


class AlertsService:
    """The alerts of one city. Use :meth:`run` (until cancelled), or :meth:`start` its
    tasks in a TaskGroup of several cities' (:class:`AlertsHub`)."""

    def __init__(self, settings: AlertsSettings, pack: CityPack, store: AlarmRepository,
                 channels: dict[tuple[str, str], Channel], *, password: str | None = None,
                 clock: Callable[[], float] = time.time,
                 http: Callable[[AlertsService], contextlib.AbstractAsyncContextManager[int]]
                 | None = None) -> None:
        self.settings = settings
        self.pack = pack
        self.store = store
        self.password = password
        self.clock = clock
        self.metrics = AlertsMetrics()
        self.rules = Rules(pack, start=clock())
        self.rules.seed(store.active_keys())
        self.router = Router(pack)
        self._subscriptions_read = 0.0
        self.reload_subscriptions()
        self.titles = {r.id: r.name or r.id for r in pack.alerts.rules}
        self.auto_resolve = {r.id: r.auto_resolve for r in pack.alerts.rules}
        self.escalation = {d.id: d.escalation_s for d in pack.alerts.departments}
        self.connected = asyncio.Event()
        self.http_port: int | None = None
        self._http = http
        self._publisher: aiomqtt.Client | None = None
        self._batch = _Batch()
        self._full: asyncio.Queue[_Batch] = asyncio.Queue()
        self._window = InflightWindow(settings.max_inflight)
        self._max_future_ns = int(settings.max_future_s * 1e9)
        self.dispatcher = Dispatcher(store, pack, settings.delivery, channels, self.metrics,
                                     clock=clock, dashboard_url=pack.alerts.dashboard_url
                                     or settings.dashboard_url)

    # -- routing, as the store calls it ----------------------------------------------------
    def reload_subscriptions(self) -> None:
        """Route by the store's run-time subscriptions as they are now (the API calls
        this when it adds or removes one)."""
        self.router.use_stored(self.store.subscriptions())
        self._subscriptions_read = time.monotonic()

    def route(self, alarm: Alarm, change: str, now: float, silences: list[Silence],
              level: int) -> list[Intent]:
        return self.router.route(alarm, change, now, silences, level=level)

    def apply(self, conditions: list[Condition]) -> Applied:
        """Apply conditions to the store (one transaction) and count what happened."""
        applied = self.store.apply(conditions, self.clock(), self.route, self.titles,
                                   self.auto_resolve)
        for a in applied.opened:
            self.metrics.opened.labels(a.rule).inc()
            log.info("alerts: alarm %s of %s opened: %s %s (%s)", a.id, self.pack.city.id,
                     a.rule, a.source, a.severity)
        for a in applied.resolved:
            self.metrics.resolved.labels(a.rule).inc()
        for state, n in applied.notifications.items():
            self.metrics.queued.labels(state).inc(n)
        if applied.notifications:
            self.dispatcher.wake.set()
        return applied

    def health(self) -> tuple[bool, dict[str, object]]:
        ok = self.connected.is_set()
        return ok, {"connected": ok, "unacknowledged": self._window.held,
                    "disabled_contacts": sorted("/".join(k) for k in self.dispatcher.disabled),
                    **self.metrics.snapshot()}

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish (QoS 1) on the broker; raises while not connected (the outbox
        retries)."""
        client = self._publisher
        if client is None or not self.connected.is_set():
            raise ConnectionError("not connected to the broker")
        await client.publish(topic, payload, qos=1)

    async def run(self) -> None:
        """Serve the API (if given one), send, judge and read until cancelled."""
        async with contextlib.AsyncExitStack() as stack:
            if self._http is not None:
                self.http_port = await stack.enter_async_context(self._http(self))
            async with asyncio.TaskGroup() as tg:
                self.start(tg)

    def start(self, tg: asyncio.TaskGroup) -> None:
        """Send, judge and read in ``tg``'s tasks, until it is cancelled (the HTTP server
        is not one of them: :meth:`run`'s, or the :class:`AlertsHub`'s)."""
        city = self.pack.city.id
        tg.create_task(self.dispatcher.run(), name=f"alerts {city}: sender")
        tg.create_task(self._clock(), name=f"alerts {city}: clock")
        tg.create_task(self._consume_forever(), name=f"alerts {city}: broker")

    # -- the clock ---------------------------------------------------------------------------
    async def _clock(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_s)
            self.tick()

    def tick(self) -> None:
        """What time alone decides: silent devices (only while connected: a broker away
        is not a city gone silent), gateways offline, point events expiring, escalation,
        closing old resolved alarms; and, now and then, the run-time subscriptions read
        again (another process may have changed them)."""
        now = self.clock()
        if time.monotonic() - self._subscriptions_read >= SUBSCRIPTIONS_REFRESH_S:
            self.reload_subscriptions()
        conditions = self.rules.tick(now, silence=self.connected.is_set())
        if conditions:
            self.apply(conditions)
        for aid, dept, level in self.store.escalate_due(now, self.escalation, self.route):
            self.metrics.escalations.labels(dept).inc()
            log.warning("alerts: alarm %s of %s not acknowledged in time: escalated to %s "
                        "level %d", aid, self.pack.city.id, dept, level)
            self.dispatcher.wake.set()
        self.store.close_resolved(now - self.settings.close_after_s, now)
        self.metrics.active.set(sum(n for s, n in self.store.counts().items()
                                    if s in ("open", "acknowledged")))

    # -- the broker --------------------------------------------------------------------------
    def _reader(self) -> AckClient:
        b = self.settings.broker
        props = session_properties(b.protocol, self.settings.max_inflight)
        client = self._window.client = AckClient(
            b.host, b.port, client_id=self.client_id, on_publish=self._on_publish,
            protocol=b.protocol, clean=False, properties=props, username=b.username,
            password=self.password, keepalive=b.keepalive_s, tls_context=tls_context(b),
            ack_timeout_s=max(10.0, 2.0 * b.keepalive_s))
        return client

    def _publisher_client(self) -> aiomqtt.Client:
        b = self.settings.broker
        return aiomqtt.Client(
            b.host, b.port, identifier=f"{self.client_id}-out",
            username=b.username, password=self.password, keepalive=b.keepalive_s,
            tls_context=tls_context(b),
            protocol=aiomqtt.ProtocolVersion.V5 if b.protocol == "5"
            else aiomqtt.ProtocolVersion.V311)

    @property
    def client_id(self) -> str:
        """The reading session's MQTT client id (the publisher's adds ``-out``): the
        settings' ``client_id``, and ``-{city}`` with ``packs``."""
        return self.settings.client_id_of(self.pack.city.id)

    def filters(self) -> list[str]:
        city = self.pack.city.id
        group = self.settings.shared_group
        # status: a plain subscription (retained messages are not sent to shared ones)
        return [*shared([*telemetry_filter(city), event_filter(city)], group),
                f"city/{city}/status/+"]

    async def _consume_forever(self) -> None:
        attempt = 0
        while True:
            self._batch = _Batch()
            self._full = asyncio.Queue()
            self._window.reset()
            lost: BaseException | None = None
            try:
                async with self._publisher_client() as out, self._reader() as client, \
                        asyncio.TaskGroup() as tg:
                    self._publisher = out
                    tg.create_task(client.disconnected())
                    tg.create_task(self._until_lost(out))
                    tg.create_task(self._timer())
                    tg.create_task(self._process(client))
                    for f in self.filters():
                        await client.subscribe(f, qos=1)
                    attempt = 0
                    self.rules.heard_all(self.clock())
                    self.connected.set()
                    self.metrics.connected.set(1)
                    self.dispatcher.wake.set()
                    log.info("alerts: connected to %s:%s, subscribed %s",
                             self.settings.broker.host, self.settings.broker.port,
                             ", ".join(self.filters()))
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
            self._publisher = None
            self.connected.clear()
            self.metrics.connected.set(0)
            delay = backoff_delay(attempt, base=0.5, cap=30)
            attempt += 1
            log.warning("alerts: broker connection lost (%s); reconnecting in %.1fs", lost,
                        delay)
            await asyncio.sleep(delay)

    @staticmethod
    async def _until_lost(out: aiomqtt.Client) -> None:
        async for _ in out.messages:
            pass
        raise aiomqtt.MqttError("the publishing connection closed")

    def _on_publish(self, topic: str | None, qos: int, mid: int, payload: bytes) -> None:
        b = self._batch
        if not b.count:
            b.started = time.monotonic()
        b.count += 1
        if qos:
            b.mids.append(mid)
            self._window.hold(1)
            self.metrics.unacknowledged.set(self._window.held)
        parts = (topic or "").split("/")
        kind = parts[2] if len(parts) > 2 else ""
        try:
            if topic is None:
                raise DecodeError("topic", "topic is not UTF-8")
            if kind == "events":
                self.metrics.messages.labels("event").inc()
                event = orjson.loads(payload)
                if not isinstance(event, dict):
                    raise DecodeError("event", "an event is a JSON object")
                b.events.append(event)
            elif kind == "status":
                self.metrics.messages.labels("status").inc()
                status = orjson.loads(payload) if payload else {}
                state = status.get("state") if isinstance(status, dict) else None
                if state not in ("online", "offline"):
                    raise DecodeError("status", f"status state {state!r}")
                b.statuses.append((parts[3], state))
            else:
                self.metrics.messages.labels("telemetry").inc()
                _, readings = decode_telemetry(self.pack, topic, payload,
                                               now_ns=time.time_ns(),
                                               max_future_ns=self._max_future_ns)
                b.readings += readings
        except (DecodeError, orjson.JSONDecodeError) as e:
            reason = e.reason if isinstance(e, DecodeError) else "json"
            self.metrics.refused.labels(reason).inc()
            log.debug("alerts: refused a message on %s: %s", (topic or "")[:200], e)
        if b.count >= self._window.half:
            self._flush()

    async def _timer(self) -> None:
        interval = self.settings.batch_interval_s
        while True:
            await asyncio.sleep(interval / 2)
            if self._batch.count and time.monotonic() - self._batch.started >= interval:
                self._flush()

    def _flush(self) -> None:
        batch, self._batch = self._batch, _Batch()
        if batch.count:
            self._full.put_nowait(batch)

    async def _process(self, client: AckClient) -> None:
        while True:
            batch = await self._full.get()
            now = self.clock()
            conditions = self.rules.readings(batch.readings, now)
            for gateway, state in batch.statuses:
                conditions += self.rules.status(gateway, state, now)
            for event in batch.events:
                conditions += self.rules.event(event, now)
            if conditions:
                await asyncio.to_thread(self.apply, conditions)
            client.ack(batch.mids)
            self._window.hold(-len(batch.mids))
            self.metrics.unacknowledged.set(self._window.held)
            self.metrics.batch_seconds.observe(time.monotonic() - batch.started)


class AlertsHub:
    """The alerts of every city one process serves: an :class:`AlertsService` per city
    (``services``, by city id, in the settings' order), their tasks in one TaskGroup,
    and one HTTP server over them all (``http``, given the hub; :func:`alerts.api.serve_api`).

    ``labelled`` (the settings' ``packs`` form, :attr:`AlertsSettings.per_city`):
    :attr:`registry` and :meth:`health` label every sample and detail with its city; not
    labelled, the one city's as they are (a ``pack:`` deployment's ``/metrics`` and
    ``/healthz`` are unchanged). Use :meth:`run` (until cancelled).
    """

    def __init__(self, services: Iterable[AlertsService], *, labelled: bool,
                 http: Callable[[AlertsHub], contextlib.AbstractAsyncContextManager[int]]
                 | None = None) -> None:
        listed = list(services)
        self.services = {s.pack.city.id: s for s in listed}
        if not self.services or len(self.services) != len(listed):
            raise ValueError("an alerts hub serves one or more cities, each once")
        if not labelled and len(self.services) != 1:
            raise ValueError("several cities' metrics need labelled=True")
        self.labelled = labelled
        self.http_port: int | None = None
        self._http = http
        first = listed[0]
        self._registry = per_city({c: s.metrics.registry for c, s in self.services.items()}) \
            if labelled else first.metrics.registry
        self._health: Health = per_city_health(
            {c: s.health for c, s in self.services.items()}) if labelled else first.health

    @property
    def cities(self) -> tuple[str, ...]:
        """The city ids served, in the settings' order."""
        return tuple(self.services)

    @property
    def registry(self) -> CollectorRegistry:
        """What ``/metrics`` serves: every city's metrics (with a ``city`` label if
        ``labelled``)."""
        return self._registry

    def health(self) -> tuple[bool, dict[str, object]]:
        """What ``/healthz`` serves: healthy while every city is."""
        return self._health()

    async def wait_connected(self) -> None:
        """Until every city's reader is connected to the broker."""
        for service in self.services.values():
            await service.connected.wait()

    async def run(self) -> None:
        """Serve the HTTP API, and every city's sender, clock and broker connection, in
        one TaskGroup until cancelled."""
        async with contextlib.AsyncExitStack() as stack:
            if self._http is not None:
                self.http_port = await stack.enter_async_context(self._http(self))
            async with asyncio.TaskGroup() as tg:
                for service in self.services.values():
                    service.start(tg)
