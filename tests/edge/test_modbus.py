"""The modbus driver against a real pymodbus TCP server on loopback."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator

import pytest
from pymodbus.datastore import (
    ModbusDeviceContext,
    ModbusSequentialDataBlock,
    ModbusServerContext,
)
from pymodbus.server import ModbusTcpServer

from cityhub.config.pack import CityPack, FloodSensor, TrafficSensor
from cityhub.services import free_port
from edge.drivers import DriverError, make_driver
from edge.drivers.modbus import ModbusDriver
from edge.drivers.sim import Weather

pytestmark = pytest.mark.integration


def f32(x: float) -> list[int]:
    hi, lo = struct.unpack(">HH", struct.pack(">f", x))
    return [hi, lo]


@pytest.fixture
async def server() -> AsyncIterator[int]:
    holding = [0] * 300
    holding[100] = 153  # a gauge level in cm
    holding[200:202] = f32(2.75)  # a distance in metres, float32
    holding[210:212] = f32(2.75)[::-1]  # the same, little word order
    holding[50] = 1  # a flag
    inputs = [0] * 20
    inputs[5] = (-12) & 0xFFFF  # int16 -12
    # pymodbus' device context adds 1 to every protocol address: a block starting at 1
    # holds register 0 at index 0.
    ctx = ModbusServerContext(devices=ModbusDeviceContext(
        hr=ModbusSequentialDataBlock(1, holding), ir=ModbusSequentialDataBlock(1, inputs)),
        single=True)
    port = free_port()
    srv = ModbusTcpServer(ctx, address=("127.0.0.1", port))
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


@pytest.mark.parametrize(("params", "words"), [
    ({}, "needs params.host"),
    ({"host": "h"}, "at least one"),
    ({"host": "h", "currentLevel.register": 1, "currentLevel.type": "float64"}, "type must"),
])
def test_config_errors(small_pack: CityPack, params: dict[str, object], words: str) -> None:
    with pytest.raises(DriverError, match=words):
        make_driver(gauge(small_pack, **params), small_pack, Weather("Asia/Jakarta"))
