"""A small city pack with broker accounts (gw-a and gw-b have credentials, gw-c has none)
and, for the tests that need one, a real Mosquitto run from the files generated for it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from broker.conf import BrokerOptions
from broker.generate import generate
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from devservices.ports import free_port
from tests.broker.live import running_broker
from tests.conftest import write_small_pack

THIRD_GATEWAY = """\
id: gw-c
district: north
location: {lat: -6.90, lon: 107.61}
sensors:
  - {id: rain-c1, domain: rain, location: {lat: -6.901, lon: 107.611}}
"""

# Every account's password, as the environment would give them.
PASSWORDS = {
    "gw-a": "pw-gateway-a", "gw-b": "pw-gateway-b", "cityhub-ingest": "pw-ingest",
    "cityhub-analytics": "pw-analytics", "cityhub-alerts": "pw-alerts",
    "cityhub-dashboard": "pw-dashboard", "dept-bpbd": "pw-bpbd",
}
ENVIRON = {
    "CITYHUB_GW_A_PASSWORD": PASSWORDS["gw-a"], "CITYHUB_GW_B_PASSWORD": PASSWORDS["gw-b"],
    **{f"CITYHUB_MQTT_{s.upper()}_PASSWORD": PASSWORDS[f"cityhub-{s}"]
       for s in ("ingest", "analytics", "alerts", "dashboard")},
    "CITYHUB_MQTT_DEPT_BPBD_PASSWORD": PASSWORDS["dept-bpbd"],
}


def write_broker_pack(root: Path, city: str, port: int = 1883) -> Path:
    """The tests' small pack, its broker on ``port``, gw-a and gw-b with credentials
    (passwords from CITYHUB_GW_A_PASSWORD, CITYHUB_GW_B_PASSWORD), gw-c without."""
    write_small_pack(root, city)
    with (root / "city.yaml").open("a") as f:
        # a department reached over MQTT: its own account reads its notifications
        f.write("alerts:\n  rules:\n    - {id: river-siaga, kind: siaga, at: 3}\n"
                "  departments:\n    - {id: bpbd, name: BPBD, subscriptions: [{}], "
                "group_s: 0, contacts: [{id: posko, channel: mqtt}]}\n")
        f.write(f"broker:\n  host: 127.0.0.1\n  port: {port}\n")  # last: tests extend it
    for gw in ("a", "b"):
        path = root / "gateways" / f"gw-{gw}.yaml"
        text = path.read_text().replace(
            "sensors:", f"credentials:\n  username: gw-{gw}\n"
            f"  password_env: CITYHUB_GW_{gw.upper()}_PASSWORD\nsensors:", 1)
        path.write_text(text)
    (root / "gateways" / "gw-c.yaml").write_text(THIRD_GATEWAY)
    return root


@dataclass(frozen=True)
class Broker:
    """A running broker of ``pack``: its plain port and the directory of its files."""

    pack: CityPack
    port: int
    conf_dir: Path

    @property
    def city(self) -> str:
        return self.pack.city.id


@pytest.fixture(scope="module")
def live_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """Mosquitto with the generated mosquitto.conf, passwd and acl of the small pack."""
    root = tmp_path_factory.mktemp("broker")
    port = free_port()
    pack = load_pack(write_broker_pack(root / "pack", f"t-{uuid.uuid4().hex[:8]}", port))
    out = root / "out"
    generate(pack, out, BrokerOptions(str(out), str(out / "data"), port, "127.0.0.1"),
             environ=ENVIRON)
    with running_broker(out, port):
        yield Broker(pack, port, out)
