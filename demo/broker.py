"""The demo's broker: Mosquitto locked down as in production when installed, else amqtt
embedded in the process (open: it is only for a machine without Mosquitto).

With Mosquitto, the demo runs the files `cityhub broker config` generates from the city
pack (:func:`broker.generate.generate`): nobody anonymous, a password per gateway and per
service, each gateway publishing only under its own topics, each service reading and
writing only what it needs (docs/broker.md). The passwords are new each run (or the ones
already in the environment, under the names the pack and the broker config give), and
every part of the demo logs in with its own account, so the demo shows the hub working
through the broker a city would run.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from broker.accounts import accounts_of
from broker.conf import BrokerOptions
from broker.generate import generate
from cityhub.config.pack import CityPack, Gateway
from cityhub.mqtt import BrokerSettings
from cityhub.secrets import secret
from devservices import LocalMosquitto, free_port

__all__ = ["DemoBroker", "demo_broker"]

log = logging.getLogger("cityhub.demo")


@dataclass(frozen=True)
class DemoBroker:
    """The running broker: how to describe it, and how each part of the demo logs in."""

    description: str
    settings: BrokerSettings  # host, port, protocol; no account
    locked: bool = False
    _service_env: dict[str, str] = field(default_factory=dict)

    @property
    def protocol(self) -> str:
        return self.settings.protocol

    def for_service(self, service: str) -> tuple[BrokerSettings, str | None]:
        """The broker as the service ``service`` (``ingest``, ``analytics``, ``alerts``,
        ``dashboard``) reaches it, and its password: its own account when the broker is
        locked."""
        if not self.locked:
            return self.settings, None
        env = self._service_env[service]
        return (self.settings.model_copy(update={"username": f"cityhub-{service}",
                                                 "password_env": env}),
                secret(env, what=f"the {service} service's MQTT password"))

    def for_gateway(self, gateway: Gateway) -> tuple[BrokerSettings, str | None]:
        """The broker as ``gateway``'s edge agent reaches it, and its password."""
        c = gateway.credentials
        if not self.locked or c is None:
            return self.settings, None
        return (self.settings.model_copy(update={"username": c.username}),
                secret(c.password_env, what=f"gateway {gateway.id}'s MQTT password"))


def _why_open(packs: Sequence[CityPack]) -> str | None:
    """Why the packs' gateways could not log in to a locked broker (None: they can)."""
    for pack in packs:
        for gw in pack.gateways:
            if gw.credentials is None or not gw.credentials.password_env:
                return f"gateway {gw.id} of {pack.city.id} has no credentials.password_env"
    return None


@contextlib.asynccontextmanager
async def demo_broker(packs: CityPack | Sequence[CityPack], kind: str = "auto"
                      ) -> AsyncIterator[DemoBroker]:
    """Start a broker on a free loopback port for the packs' city (or cities); yield how
    to use it."""
    packs = [packs] if isinstance(packs, CityPack) else list(packs)
    if kind == "mosquitto" or (kind == "auto" and LocalMosquitto.available()):
        with tempfile.TemporaryDirectory(prefix="cityhub-demo-mosquitto-") as d:
            port = free_port()
            why_open = _why_open(packs)
            conf_text = None
            service_env: dict[str, str] = {}
            if why_open is None:
                accounts = accounts_of(packs)
                for a in accounts.accounts:  # a password for every account, this run's
                    if a.password_env:
                        os.environ.setdefault(a.password_env, secrets.token_urlsafe(18))
                    if a.role not in ("gateway", "department") and a.password_env:
                        service_env[a.role] = a.password_env
                generate(packs, Path(d) / "conf", BrokerOptions(
                    conf_dir=f"{d}/conf", data_dir=f"{d}/data", port=port, bind="127.0.0.1"))
                conf_text = (Path(d) / "conf" / "mosquitto.conf").read_text()
            else:
                log.warning("demo: an open Mosquitto (anyone may publish anything): %s",
                            why_open)
            m = LocalMosquitto(Path(d), port=port, stop_with_parent=True,  # even if killed
                               conf_text=conf_text)
            try:
                m.start()
                what = ("locked down: the accounts and ACL `cityhub broker config` makes "
                        "from the pack" if conf_text else "open")
                yield DemoBroker(f"Mosquitto on 127.0.0.1:{port}, {what}",
                                 BrokerSettings(host="127.0.0.1", port=port, protocol="5"),
                                 locked=conf_text is not None, _service_env=service_env)
            finally:
                m.stop()
        return
    from amqtt.broker import Broker  # embedded fallback: MQTT 3.1.1, no shared subscriptions

    port = free_port()
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    broker = Broker({
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}",
                                  "max_connections": 200}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin":
                    {"allow_anonymous": True}},
    })
    await broker.start()
    try:
        yield DemoBroker(f"embedded amqtt on 127.0.0.1:{port}, open (install mosquitto for "
                         "MQTT 5 and the locked-down broker)",
                         BrokerSettings(host="127.0.0.1", port=port, protocol="3.1.1"))
    finally:
        await broker.shutdown()
