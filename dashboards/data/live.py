"""What the broker tells the dashboards as it happens: each gateway's retained status
(birth, heartbeat, last will: docs/protocol.md, "Status messages") and the analytics'
events (``city/{city}/events/#``), kept in memory for the pages.

A paho-mqtt client on its own network thread (``loop_start``), subscribed with a
persistent session (MQTT 5 session expiry, or 3.1.1's clean-session flag off), so a
restarted dashboard is handed the events it missed while down, and the retained status
of every gateway at once. Reconnects by itself (paho's backoff). A status or event that
is not valid JSON is counted (``rejected``) and logged once per topic, never dropped
silently.

Read with :meth:`LiveFeed.gateways` and :meth:`LiveFeed.events`; the pages never talk
to the broker themselves.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cityhub.levels import number_field
from cityhub.mqtt import BrokerSettings, tls_context
from cityhub.topics import event_filter

__all__ = ["GatewayStatus", "LiveFeed"]

log = logging.getLogger("cityhub.dashboards.live")
SESSION_EXPIRY_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """A gateway's last status message, and when the dashboards received it."""

    gateway: str
    state: str  # "online" or "offline" (the last will)
    version: str | None
    backlog: int | None
    oldest_age_s: float | None
    dropped: int | None
    faulty_sensors: tuple[str, ...]
    broker_error: str | None
    sent_at: float | None  # the agent's clock
    received_at: float

    @classmethod
    def of(cls, gateway: str, doc: dict[str, Any], received_at: float) -> GatewayStatus:
        def num(key: str) -> float | None:
            return number_field(doc, key)

        backlog, dropped = num("backlog"), num("dropped")
        return cls(gateway, str(doc.get("state", "unknown")),
                   str(doc["version"]) if doc.get("version") else None,
                   int(backlog) if backlog is not None else None, num("oldest_age_s"),
                   int(dropped) if dropped is not None else None,
                   tuple(str(s) for s in doc.get("faulty_sensors") or ()),
                   str(doc["broker_error"]) if doc.get("broker_error") else None,
                   num("time"), received_at)


class LiveFeed:
    """Gateway statuses and events of one city, from the broker.

    ``keep_s``: how long an ended event is kept (ongoing ones are kept until they end).
    """

    def __init__(self, city: str, broker: BrokerSettings, *, client_id: str,
                 password: str | None = None, keep_s: float = 6 * 3600,
                 clock: Callable[[], float] = time.time) -> None:
        self.city, self.broker, self.client_id = city, broker, client_id
        self.password = password
        self.keep_s, self.clock = keep_s, clock
        self._lock = threading.Lock()
        self._gateways: dict[str, GatewayStatus] = {}
        self._events: dict[str, dict[str, Any]] = {}
        self.rejected = 0
        self._told: set[str] = set()
        self.connected = threading.Event()
        self._client: mqtt.Client | None = None

    # -- what the pages read ------------------------------------------------------------

    def gateways(self) -> dict[str, GatewayStatus]:
        """The last status of every gateway that has sent one."""
        with self._lock:
            return dict(self._gateways)

    def offline(self) -> set[str]:
        """The gateways whose last status is ``offline``."""
        return {g for g, s in self.gateways().items() if s.state == "offline"}

    def events(self, *, domain: str | None = None, kinds: Iterable[str] | None = None,
               ongoing: bool = False) -> list[dict[str, Any]]:
        """Events, newest start first; ``ongoing``: only those without an ``end``."""
        wanted = set(kinds) if kinds is not None else None
        with self._lock:
            out = [e for e in self._events.values()
                   if (domain is None or e.get("domain") == domain)
                   and (wanted is None or e.get("kind") in wanted)
                   and (not ongoing or e.get("end") is None)]
        return sorted(out, key=lambda e: str(e.get("start", "")), reverse=True)

    # -- what the broker sends ----------------------------------------------------------

    def receive(self, topic: str, payload: bytes) -> None:
        """Take one message (paho's thread calls this; tests may too)."""
        parts = topic.split("/")
        try:
            doc = orjson.loads(payload) if payload else None
            if payload and not isinstance(doc, dict):
                raise ValueError("not a JSON object")
        except ValueError as e:
            self.rejected += 1
            if topic not in self._told:
                self._told.add(topic)
                log.warning("dashboards: %s: not a status or event JSON object (%s); "
                            "counted in rejected, not shown", topic, e)
            return
        now = self.clock()
        with self._lock:
            if len(parts) == 4 and parts[2] == "status":
                if doc is None:  # a retained status cleared: the gateway was removed
                    self._gateways.pop(parts[3], None)
                else:
                    self._gateways[parts[3]] = GatewayStatus.of(parts[3], doc, now)
            elif len(parts) >= 4 and parts[2] == "events" and doc is not None \
                    and isinstance(doc.get("id"), str):
                doc["received_at"] = now
                self._events[doc["id"]] = doc  # the closing message supersedes the opening
                self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        old = [k for k, e in self._events.items()
               if e.get("end") is not None and now - float(e["received_at"]) > self.keep_s]
        for k in old:
            del self._events[k]

    # -- the connection -----------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (paho retries until the broker answers)."""
        b = self.broker
        v5 = b.protocol == "5"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=MQTTProtocolVersion.MQTTv5 if v5
                             else MQTTProtocolVersion.MQTTv311,
                             clean_session=None if v5 else False)
        if b.username:
            client.username_pw_set(b.username, self.password)
        ctx = tls_context(b)
        if ctx is not None:
            client.tls_set_context(ctx)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = lambda _c, _u, msg: self.receive(msg.topic, bytes(msg.payload))
        client.reconnect_delay_set(1, 30)
        props = None
        if v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = SESSION_EXPIRY_S
        client.connect_async(b.host, b.port, keepalive=b.keepalive_s,
                             clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
                             properties=props)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: mqtt.Client, _u: object, _f: object, reason: Any,
                    _p: object = None) -> None:
        if reason.is_failure:
            log.warning("dashboards: the broker refused the live feed: %s", reason)
            return
        client.subscribe([(f"city/{self.city}/status/+", 1), (event_filter(self.city), 1)])
        self.connected.set()

    def _on_disconnect(self, *_: object) -> None:
        self.connected.clear()

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
            self._client = None
