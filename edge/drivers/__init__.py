"""Drivers turn a sensor's configuration into readings: one module per driver, listed in
one explicit registry. ``make_driver`` builds the driver a sensor's ``driver:`` names."""

from __future__ import annotations

from collections.abc import Callable

from cityhub.config.pack import AnySensor, CityPack
from edge.drivers.base import Driver, DriverError
from edge.drivers.command import CommandDriver
from edge.drivers.sim import SimDriver, Weather

__all__ = ["REGISTRY", "Driver", "DriverError", "make_driver"]

Factory = Callable[[AnySensor, CityPack, Weather, int], Driver]

def _modbus(sensor: AnySensor, pack: CityPack, weather: Weather, seed: int) -> Driver:
    from edge.drivers.modbus import ModbusDriver  # pymodbus only where a pack uses it

    return ModbusDriver(sensor)


REGISTRY: dict[str, Factory] = {
    "sim": lambda s, pack, weather, seed: SimDriver(s, pack, weather, seed),
    "command": lambda s, pack, weather, seed: CommandDriver(s),
    "modbus": _modbus,
}


def make_driver(sensor: AnySensor, pack: CityPack, weather: Weather, seed: int = 0) -> Driver:
    """The driver for ``sensor``; :class:`DriverError` names an unknown driver."""
    factory = REGISTRY.get(sensor.driver)
    if factory is None:
        raise DriverError(f"sensor {sensor.id}: unknown driver {sensor.driver!r} "
                          f"(known: {', '.join(REGISTRY)})")
    return factory(sensor, pack, weather, seed)
