"""The modbus driver against real pymodbus servers: Modbus TCP and RTU-over-TCP on
loopback, and RTU on a serial line (a pseudo-terminal pair made by socat)."""

from __future__ import annotations

import asyncio
import shutil
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus import FramerType
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusSerialServer, ModbusTcpServer

from cityhub.config.pack import CityPack, FloodSensor, TrafficSensor
from devservices import free_port
from edge.drivers import DriverError, make_driver
from edge.drivers.modbus import ModbusDriver
from edge.drivers.sim import Weather

pytestmark = pytest.mark.integration


def f32(x: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


def device(level_cm: int = 153) -> ModbusDeviceContext:
    holding = [0] * 300
    holding[100] = level_cm  # a gauge level
    holding[200:202] = f32(2.75)  # a distance in metres, float32
    holding[210:212] = f32(2.75)[::-1]  # the same, little word order
    holding[50] = 1  # a flag
    inputs = [0] * 20
    inputs[5] = (-12) & 0xFFFF  # int16 -12
    # pymodbus' device context adds 1 to every protocol address: a block starting at 1
    # holds register 0 at index 0.
    return ModbusDeviceContext(hr=ModbusSequentialDataBlock(1, holding),
                               ir=ModbusSequentialDataBlock(1, inputs))


async def tcp_server(framer: FramerType) -> AsyncIterator[int]:
    ctx = ModbusServerContext(devices=device(), single=True)
    port = free_port()
    srv = ModbusTcpServer(ctx, address=("127.0.0.1", port), framer=framer)
    task = asyncio.create_task(srv.serve_forever())
    for _ in range(100):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            break
        except OSError:
            await asyncio.sleep(0.05)
    yield port
    await srv.shutdown()
    task.cancel()


@pytest.fixture
async def server() -> AsyncIterator[int]:
    async for port in tcp_server(FramerType.SOCKET):
        yield port


@pytest.fixture
async def rtu_tcp_server() -> AsyncIterator[int]:
    """A serial-to-Ethernet converter: RTU frames over TCP."""
    async for port in tcp_server(FramerType.RTU):
        yield port


@pytest.fixture
async def serial_line(tmp_path: Path) -> AsyncIterator[Path]:
    """An RTU slave (units 1 and 2, 9600 baud 8N1) on one end of a pseudo-terminal pair
    made by socat; yields the other end, where the driver talks. (A pty has no parity or
    stop-bit hardware: Linux refuses to set them again once cleared, so the line is 8N1.)"""
    if shutil.which("socat") is None:
        pytest.fail("socat is not installed: run the tests with `make test`, which "
                    "installs it (apt-get install socat)")
    slave, master = tmp_path / "ttyS-device", tmp_path / "ttyS-gateway"
    socat = await asyncio.create_subprocess_exec(
        "socat", f"pty,raw,echo=0,link={slave}", f"pty,raw,echo=0,link={master}",
        stderr=asyncio.subprocess.DEVNULL)
    try:
        for _ in range(200):
            if slave.exists() and master.exists():
                break
            await asyncio.sleep(0.02)
        # unit 2: another gauge on the same line, at 2.07 m
        ctx = ModbusServerContext(devices={1: device(), 2: device(207)}, single=False)
        srv = ModbusSerialServer(ctx, framer=FramerType.RTU, port=str(slave), baudrate=9600,
                                 parity="N", stopbits=1, bytesize=8)
        task = asyncio.create_task(srv.serve_forever())
        await asyncio.sleep(0.3)  # the server opens its end
        yield master
        await srv.shutdown()
        task.cancel()
    finally:
        socat.terminate()
        await socat.wait()


def gauge(pack: CityPack, **params: object) -> FloodSensor:
    _, s = pack.sensors["river-1"]
    assert isinstance(s, FloodSensor)
    return s.model_copy(update={"driver": "modbus", "params": params})


async def test_register_map_with_scale_offset_and_types(small_pack: CityPack,
                                                        server: int) -> None:
    d = ModbusDriver(gauge(small_pack, host="127.0.0.1", port=server, **{
        "currentLevel.register": 100, "currentLevel.scale": 0.01,
        "currentLevel.offset": -0.2,
        "measuredDistance.register": 200, "measuredDistance.type": "float32"}))
    got = await d.read(0)
    assert got["currentLevel"] == pytest.approx(1.33)
    assert got["measuredDistance"] == pytest.approx(2.75)
    d2 = ModbusDriver(gauge(small_pack, host="127.0.0.1", port=server, **{
        "measuredDistance.register": 210, "measuredDistance.type": "float32",
        "measuredDistance.word_order": "little",
        "currentLevel.register": 5, "currentLevel.function": "input",
        "currentLevel.type": "int16", "currentLevel.scale": 0.1}))
    got = await d2.read(0)
    assert got == {"measuredDistance": pytest.approx(2.75), "currentLevel": pytest.approx(-1.2)}
    _, tfc = small_pack.sensors["tfc-1"]
    assert isinstance(tfc, TrafficSensor)
    flag = ModbusDriver(tfc.model_copy(update={"driver": "modbus", "params": {
        "host": "127.0.0.1", "port": server, "congested.register": 50}}))
    assert await flag.read(0) == {"congested": True}
    for x in (d, d2, flag):
        await x.aclose()


async def test_unreachable_device_is_a_driver_error(small_pack: CityPack) -> None:
    d = ModbusDriver(gauge(small_pack, host="127.0.0.1", port=free_port(), timeout_s=0.5,
                           **{"currentLevel.register": 1}))
    with pytest.raises(DriverError, match="cannot connect"):
        await d.read(0)
    await d.aclose()


async def test_rtu_on_a_serial_line_two_units_share_it(small_pack: CityPack,
                                                       serial_line: Path) -> None:
    line = {"transport": "rtu", "serial_port": str(serial_line), "baudrate": 9600,
            "parity": "none", "stopbits": 1, "bytesize": 8, "timeout_s": 2}
    a = ModbusDriver(gauge(small_pack, **line, **{
        "currentLevel.register": 100, "currentLevel.scale": 0.01,
        "measuredDistance.register": 200, "measuredDistance.type": "float32"}))
    _, river = small_pack.sensors["river-1"]
    b = ModbusDriver(river.model_copy(update={"id": "river-2", "driver": "modbus", "params": {
        **line, "unit": 2, "currentLevel.register": 100, "currentLevel.scale": 0.01}}))
    # read together, as the publisher does: the shared line takes one request at a time
    for _ in range(3):
        got_a, got_b = await asyncio.gather(a.read(0), b.read(0))
        assert got_a == {"currentLevel": pytest.approx(1.53),
                         "measuredDistance": pytest.approx(2.75)}
        assert got_b == {"currentLevel": pytest.approx(2.07)}
    with pytest.raises(DriverError, match="other settings"):
        ModbusDriver(gauge(small_pack, **{**line, "baudrate": 19200},
                           **{"currentLevel.register": 100}))
    for x in (a, b):
        await x.aclose()


async def test_rtu_over_tcp(small_pack: CityPack, rtu_tcp_server: int) -> None:
    d = ModbusDriver(gauge(small_pack, transport="rtu-over-tcp", host="127.0.0.1",
                           port=rtu_tcp_server, **{"currentLevel.register": 100,
                                                   "currentLevel.scale": 0.01}))
    assert await d.read(0) == {"currentLevel": pytest.approx(1.53)}
    await d.aclose()


async def test_missing_serial_port_is_a_driver_error(small_pack: CityPack,
                                                     tmp_path: Path) -> None:
    d = ModbusDriver(gauge(small_pack, transport="rtu", serial_port=str(tmp_path / "ttyX"),
                           timeout_s=0.5, **{"currentLevel.register": 1}))
    with pytest.raises(DriverError, match=r"cannot connect.*ttyX"):
        await d.read(0)
    await d.aclose()


@pytest.mark.parametrize(("params", "words"), [
    ({}, "transport tcp needs host"),
    ({"host": "h"}, "at least one"),
    ({"host": "h", "currentLevel.register": 1, "currentLevel.type": "float64"}, "type must"),
    ({"host": "h", "currentLevel.register": 1, "hots": "x"}, r"params\.hots: unknown key"),
    ({"host": "h", "currentLevel.registr": 1}, r"params\.currentLevel\.registr: unknown"),
    ({"host": "h", "rainRate.register": 1}, "not a field of flood"),
    ({"host": "h", "currentLevel.scale": 2}, "but not currentLevel.register"),
    ({"host": "h", "baudrate": 9600, "currentLevel.register": 1},
     "baudrate do.* not apply to transport tcp"),
    ({"transport": "rtu", "currentLevel.register": 1}, "needs serial_port"),
    ({"transport": "rtu", "serial_port": "/dev/ttyUSB0", "host": "h",
      "currentLevel.register": 1}, "host do.* not apply to transport rtu"),
    ({"transport": "rtu", "serial_port": "/dev/ttyUSB0", "parity": "mark",
      "currentLevel.register": 1}, "parity must be"),
    ({"transport": "rtu", "serial_port": "/dev/ttyUSB0", "stopbits": 3,
      "currentLevel.register": 1}, r"params\.stopbits"),
    ({"transport": "serial", "currentLevel.register": 1}, r"params\.transport"),
])
def test_config_errors(small_pack: CityPack, params: dict[str, object], words: str) -> None:
    with pytest.raises(DriverError, match=words):
        make_driver(gauge(small_pack, **params), small_pack, Weather("Asia/Jakarta"))
