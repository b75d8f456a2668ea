"""What the alerts service tests share: a pack whose departments reach the tests' own
receivers, the service's settings against the session's Mosquitto, readings to publish,
an authenticated API client."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import orjson

from accounts import Accounts
from alerts.run import running_service
from alerts.service import AlertsService
from alerts.settings import AlertsSettings, DeliverySettings
from cityhub.config.alerting import AlertsPolicy
from cityhub.config.pack import CityPack
from cityhub.mqtt import BrokerSettings
from cityhub.senml import Reading, encode_pack
from cityhub.topics import telemetry_topic

GAUGE = "flood-cikapundung-dago"  # Bandung, gateway gw-dago: Siaga III at 1.5 m
PASSWORDS = {"op": "operator-pass", "viewer": "viewer-pass", "admin": "admin-pass-1"}


def pack_reaching(pack: CityPack, *, webhook_url: str | None = None,
                  mail_to: str | None = None, apprise_env: str | None = None,
                  escalation_s: tuple[float, ...] = (), group_s: float = 0.1,
                  max_per_hour: int = 1000) -> CityPack:
    """``pack`` with one department, ``ops``, hearing of everything, reached by the
    receivers given (the webhook's secret in TEST_WEBHOOK_SECRET)."""
    contacts: list[dict[str, Any]] = [{"id": "feed", "channel": "mqtt"}]
    if webhook_url:
        contacts.append({"id": "hook", "channel": "webhook", "url": webhook_url,
                         "secret_env": "TEST_WEBHOOK_SECRET"})
    if mail_to:
        contacts.append({"id": "mail", "channel": "email", "to": [mail_to],
                         "language": "en"})
    if apprise_env:
        contacts.append({"id": "chat", "channel": "apprise", "url_env": apprise_env})
    if escalation_s:
        contacts.append({"id": "chief", "channel": "mqtt", "level": 1})
    policy = AlertsPolicy.model_validate({
        "rules": [r.model_dump() for r in pack.alerts.rules],
        "departments": [{"id": "ops", "name": "Pusdalops", "language": "id",
                         "subscriptions": [{"min_severity": "info"}], "contacts": contacts,
                         "escalation_s": list(escalation_s), "group_s": group_s,
                         "max_per_hour": max_per_hour}],
        "dashboard_url": "http://command-centre.example"})
    return pack.model_copy(update={"alerts": policy})


def settings_for(port: int, tmp: Path, *, packs: tuple[str, ...] = (),
                 **extra: Any) -> AlertsSettings:
    """One city (``pack: bandung``), or ``packs``."""
    return AlertsSettings(
        pack=None if packs else "bandung", packs=packs,
        broker=BrokerSettings(host="127.0.0.1", port=port, protocol="3.1.1"),
        client_id=f"alerts-{uuid.uuid4().hex[:6]}", shared_group=f"a{uuid.uuid4().hex[:6]}",
        database=str(tmp / "alarms.db"), accounts=str(tmp / "accounts.db"), http_port=0,
        tick_s=0.1, batch_interval_s=0.05,
        delivery=DeliverySettings(backoff_base_s=0.05, backoff_cap_s=0.2, timeout_s=2,
                                  disable_after=3, poll_s=0.02), **extra)


def add_users(path: str) -> None:
    with Accounts(path) as accounts:
        for name, password in PASSWORDS.items():
            if accounts.get(name) is None:
                role = {"op": "operator", "viewer": "viewer", "admin": "admin"}[name]
                accounts.add(name, role, password)


@contextlib.asynccontextmanager
async def serving(settings: AlertsSettings, pack: CityPack, env: dict[str, str]
                  ) -> AsyncIterator[AlertsService]:
    """The service running (connected) until the block ends."""
    add_users(settings.accounts)
    async with running_service(settings, pack, env=env) as service:
        task = asyncio.create_task(service.run())
        try:
            await asyncio.wait_for(service.connected.wait(), 30)
            yield service
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def level_message(level_m: float, *, device: str = GAUGE, gateway: str = "gw-dago",
                  t: float | None = None, city: str = "bandung") -> tuple[str, bytes]:
    r = Reading(device, "currentLevel", level_m, int((t or time.time()) * 1e6) * 1000)
    return telemetry_topic(city, "flood", gateway), encode_pack([r], domain="flood")


async def publish(port: int, items: list[tuple[str, bytes]], *, retain: bool = False) -> None:
    async with aiomqtt.Client("127.0.0.1", port,
                              identifier=f"pub-{uuid.uuid4().hex[:6]}") as c:
        for topic, payload in items:
            await c.publish(topic, payload, qos=1, retain=retain)


class Api:
    """The service's HTTP API as one user (of ``PASSWORDS``), or with ``authorization``
    (an ``Authorization`` header)."""

    def __init__(self, session: aiohttp.ClientSession, port: int, user: str | None, *,
                 authorization: str | None = None) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"
        self.headers = {}
        if authorization is not None:
            self.headers["Authorization"] = authorization
        elif user is not None:
            token = base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()
            self.headers["Authorization"] = f"Basic {token}"

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, headers=self.headers,
                                        data=None if body is None else orjson.dumps(body)
                                        ) as r:
            raw = await r.read()
            return r.status, orjson.loads(raw) if raw else None
