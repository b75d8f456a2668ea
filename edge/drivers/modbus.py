"""``modbus`` driver: Modbus TCP through pymodbus, a register map with scale and offset.

Sensor params (flat keys, so they fit the pack's scalar params):

- ``host``, ``port`` (502), ``unit`` (device id, 1), ``timeout_s`` (3);
- per field ``F``: ``F.register`` (address, required to read F), ``F.type`` (``uint16``,
  ``int16``, ``uint32``, ``int32``, ``float32``; default ``uint16``), ``F.function``
  (``holding`` or ``input``; default ``holding``), ``F.scale`` (1), ``F.offset`` (0),
  ``F.word_order`` (``big`` or ``little`` for 32-bit values; default ``big``).

value = raw * scale + offset; a bool field is ``raw != 0``. Modbus RTU (serial) is not
offered: it needs a serial line the test machines do not have.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from cityhub.config.pack import AnySensor
from cityhub.fields import DOMAINS, Kind
from cityhub.senml import Value
from edge.drivers.base import DriverError

__all__ = ["ModbusDriver"]

_TYPES = {"uint16": (1, ">H"), "int16": (1, ">h"), "uint32": (2, ">I"), "int32": (2, ">i"),
          "float32": (2, ">f")}


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    register: int
    words: int
    fmt: str
    function: str
    scale: float
    offset: float
    little_words: bool
    boolean: bool


def _fields(sensor: AnySensor) -> list[_Field]:
    p = sensor.params
    out = []
    for name, spec in DOMAINS[sensor.domain].items():
        if f"{name}.register" not in p:
            continue
        where = f"sensor {sensor.id}: {name}"
        if spec.kind is Kind.STRING:
            raise DriverError(f"{where}: string fields cannot be read over Modbus")
        kind = str(p.get(f"{name}.type", "uint16"))
        if kind not in _TYPES:
            raise DriverError(f"{where}.type must be one of {', '.join(_TYPES)}")
        function = str(p.get(f"{name}.function", "holding"))
        if function not in ("holding", "input"):
            raise DriverError(f"{where}.function must be holding or input")
        order = str(p.get(f"{name}.word_order", "big"))
        if order not in ("big", "little"):
            raise DriverError(f"{where}.word_order must be big or little")
        words, fmt = _TYPES[kind]
        out.append(_Field(name, int(p[f"{name}.register"]), words, fmt, function,
                          float(p.get(f"{name}.scale", 1)), float(p.get(f"{name}.offset", 0)),
                          order == "little", spec.kind is Kind.BOOL))
    if not out:
        raise DriverError(f"sensor {sensor.id}: the modbus driver needs at least one "
                          "FIELD.register in params")
    return out


class ModbusDriver:
    def __init__(self, sensor: AnySensor) -> None:
        p = sensor.params
        if not isinstance(p.get("host"), str):
            raise DriverError(f"sensor {sensor.id}: the modbus driver needs params.host")
        self.fields = _fields(sensor)
        self.unit = int(p.get("unit", 1))
        self.client = AsyncModbusTcpClient(str(p["host"]), port=int(p.get("port", 502)),
                                           timeout=float(p.get("timeout_s", 3)), retries=0)

    async def read(self, t: float) -> dict[str, Value]:
        if not self.client.connected and not await self.client.connect():
            raise DriverError("cannot connect to the Modbus device")
        out: dict[str, Value] = {}
        for f in self.fields:
            read = (self.client.read_holding_registers if f.function == "holding"
                    else self.client.read_input_registers)
            try:
                rr = await read(f.register, count=f.words, device_id=self.unit)
            except (ModbusException, OSError) as e:
                self.client.close()
                raise DriverError(f"{f.name}: {e}") from e
            if rr.isError():
                raise DriverError(f"{f.name}: device answered {rr}")
            regs = list(rr.registers)
            if f.little_words:
                regs.reverse()
            raw = struct.unpack(f.fmt, b"".join(r.to_bytes(2, "big") for r in regs))[0]
            out[f.name] = raw != 0 if f.boolean else raw * f.scale + f.offset
        return out

    async def aclose(self) -> None:
        self.client.close()
