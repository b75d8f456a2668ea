"""The hub stands on its libraries' public APIs, with one exception that is checked: no
module of any package of the hub imports a private module or name of another package, or
reaches for a private attribute of any object but its own (``self``), except the
ingester's fast MQTT path, ``ingest/mqtt_fast.py``, and it only for the paho-mqtt names it
checks at start-up (``PAHO_PRIVATE_NAMES``), falling back to paho's public API when one is
missing.

A static check over the source: paho-mqtt, aiomqtt, aiohttp and the rest may rename their
internals in any release (paho 2.1.0 and 2.2.0 already differ in one the fast path uses),
and nothing would say so until a message went missing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ingest.mqtt_fast import PAHO_PRIVATE_NAMES, missing_private_names

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cityhub", "edge", "ingest", "stores", "subscriber", "analytics", "alerts",
            "dashboards", "demo", "devservices", "accounts", "broker")
OURS = PACKAGES
FAST = ROOT / "ingest" / "mqtt_fast.py"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def reaches(source: str) -> list[str]:
    """Every private name ``source`` takes from something not its own, as
    ``line: what``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            ours = node.module.split(".")[0] in OURS
            if not ours and any(_private(p) for p in node.module.split(".")):
                found.append(f"{node.lineno}: from {node.module}")
            found += [f"{node.lineno}: {node.module}.{a.name}" for a in node.names
                      if _private(a.name) and not ours]
        elif isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names
                      if a.name.split(".")[0] not in OURS
                      and any(_private(p) for p in a.name.split("."))]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and not (
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


@pytest.mark.parametrize("module", sorted(str(p.relative_to(ROOT)) for package in PACKAGES
                                          for p in (ROOT / package).rglob("*.py")
                                          if p != FAST))
def test_no_private_names_of_other_packages(module: str) -> None:
    assert reaches((ROOT / module).read_text()) == []


def test_the_mqtt_client_reaches_only_for_names_it_checks() -> None:
    """Every private name the fast path uses is in ``PAHO_PRIVATE_NAMES``, which
    ``missing_private_names()`` checks at start-up; the installed paho-mqtt has them all
    (else the pin in pyproject.toml and the installed version disagree)."""
    used = {what.rsplit(".", 1)[-1].split("(")[0]
            for what in reaches(FAST.read_text())}
    assert used <= set(PAHO_PRIVATE_NAMES), used - set(PAHO_PRIVATE_NAMES)
    assert used, "the check found nothing: has the fast path gone? then drop this test"
    assert missing_private_names() == []


def test_the_check_finds_what_it_looks_for() -> None:
    """What the old client did is found (the check can fail)."""
    old = ("from paho.mqtt.client import MQTTMessage, _socketpair_compat\n"
           "from paho.mqtt import _packet\n"
           "import paho.mqtt._packet\n"
           "def f(client, msg):\n"
           "    client._sock = None\n"
           "    return bytes(msg._topic), client._client._in_packet, self._paho.socket()\n")
    assert sorted(reaches(old)) == sorted([
        "1: paho.mqtt.client._socketpair_compat", "2: paho.mqtt._packet",
        "3: import paho.mqtt._packet", "5: client._sock", "6: msg._topic",
        "6: client._client._in_packet", "6: client._client"])
