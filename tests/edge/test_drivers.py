"""Drivers: the registry, the command driver against real programs, and isolation of a
failing driver from the others."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cityhub.config.pack import CityPack, TrafficSensor
from cityhub.mqtt import BrokerSettings
from edge.drivers import REGISTRY, DriverError, make_driver
from edge.drivers.command import CommandDriver
from edge.drivers.sim import SimDriver, Weather
from edge.metrics import EdgeCollector
from edge.publisher import GatewayPublisher
from edge.queue import DiskQueue

T = 1_767_225_600.0


def sensor(pack: CityPack, **params: object) -> TrafficSensor:
    _, s = pack.sensors["tfc-1"]
    assert isinstance(s, TrafficSensor)
    return s.model_copy(update={"driver": "command", "params": params})


def emit(output: str) -> str:
    """A command line that prints ``output`` (split by shlex, run without a shell)."""
    return f"{sys.executable} -c 'import sys; print(sys.argv[1])' '{output}'"


async def test_command_driver_json_and_senml(small_pack: CityPack) -> None:
    d = CommandDriver(sensor(small_pack, command=emit('{"intensity": 12, "congested": false}')))
    assert await d.read(T) == {"intensity": 12, "congested": False}
    senml = '[{"n": "averageVehicleSpeed", "u": "km/h", "v": 31.5, "bt": 1767225600}]'
    d = CommandDriver(sensor(small_pack, format="senml", command=emit(senml)))
    assert await d.read(T) == {"averageVehicleSpeed": 31.5}


@pytest.mark.parametrize(("params", "words"), [
    ({"command": "false"}, "exited with 1"),
    ({"command": "sleep 5", "timeout_s": 0.2}, "timed out"),
    ({"command": "echo not-json"}, "not JSON"),
    ({"command": "echo [1]"}, "JSON object"),
    ({"command": "/nonexistent/reader"}, "cannot run"),
    ({"command": "echo {}", "format": "senml"}, "SenML"),
])
async def test_command_driver_failures(small_pack: CityPack, params: dict[str, object],
                                       words: str) -> None:
    with pytest.raises(DriverError, match=words):
        await CommandDriver(sensor(small_pack, **params)).read(T)


def test_registry_and_config_errors(small_pack: CityPack) -> None:
    assert {"sim", "command"} <= set(REGISTRY)
    w = Weather("Asia/Jakarta")
    with pytest.raises(DriverError, match=r"needs params\.command"):
        make_driver(sensor(small_pack), small_pack, w)
    with pytest.raises(DriverError, match="unknown driver 'modbusx'"):
        make_driver(sensor(small_pack).model_copy(update={"driver": "modbusx"}),
                    small_pack, w)


async def test_failing_driver_never_stops_the_others(small_pack: CityPack,
                                                     tmp_path: Path) -> None:
    gw = small_pack.gateways[0]
    w = Weather("Asia/Jakarta")
    broken = sensor(small_pack, command="false")
    garbage = sensor(small_pack, command=emit('{"intensity": "lots", "occupancy": 0.5}')
                     ).model_copy(update={"id": "tfc-2"})
    others = [(s, SimDriver(s, small_pack, w)) for s in gw.sensors
              if s.id not in ("tfc-1", "tfc-2")]
    queue = DiskQueue(tmp_path / "q.db")
    pub = GatewayPublisher(small_pack, gw, [(broken, CommandDriver(broken)),
                                            (garbage, CommandDriver(garbage)), *others],
                           BrokerSettings(), queue, clock=lambda: T)
    queued = await pub.sample_due()
    devices = {q.reading.device for q in queued}
    assert devices == {s.id for s, _ in others} | {"tfc-2"}
    assert [(q.reading.field, q.reading.value) for q in queued
            if q.reading.device == "tfc-2"] == [("occupancy", 0.5)]  # garbage skipped
    assert pub.invalid == 1
    assert pub.health["tfc-1"]["ok"] is False and "exited with 1" in str(
        pub.health["tfc-1"]["error"])
    assert pub.health["river-1"]["ok"] is True
    status = pub._status("online")
    assert b'"faulty_sensors":["tfc-1"]' in status and b'"invalid":1' in status
    registry = CollectorRegistry()
    registry.register(EdgeCollector(pub))
    text = generate_latest(registry).decode()
    assert 'cityhub_edge_sensor_faulty{sensor="tfc-1"} 1.0' in text
    assert 'cityhub_edge_sensor_faulty{sensor="river-1"} 0.0' in text
    assert f"cityhub_edge_queue_readings {float(len(queued))}" in text
    assert "cityhub_edge_fields_invalid_total 1.0" in text
    queue.close()
