"""The demo's broker: Mosquitto when installed, else amqtt embedded in the process."""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from cityhub.mqtt import BrokerSettings
from devservices import LocalMosquitto, free_port

__all__ = ["demo_broker"]

log = logging.getLogger("cityhub.demo")


@contextlib.asynccontextmanager
async def demo_broker(kind: str = "auto") -> AsyncIterator[tuple[str, BrokerSettings]]:
    """Start a broker on a free loopback port; yield (description, settings)."""
    if kind == "mosquitto" or (kind == "auto" and LocalMosquitto.available()):
        with tempfile.TemporaryDirectory(prefix="cityhub-demo-mosquitto-") as d:
            m = LocalMosquitto(Path(d), stop_with_parent=True)  # even if the demo is killed
            try:
                m.start()
                yield (f"Mosquitto on 127.0.0.1:{m.port}",
                       BrokerSettings(host="127.0.0.1", port=m.port, protocol="5"))
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
        yield (f"embedded amqtt on 127.0.0.1:{port} (install mosquitto for MQTT 5)",
               BrokerSettings(host="127.0.0.1", port=port, protocol="3.1.1"))
    finally:
        await broker.shutdown()
