"""``modbus`` driver: Modbus TCP, Modbus RTU on a serial port, or RTU framing over TCP
(serial-to-Ethernet converters), through pymodbus; a register map with scale and offset.

Sensor params (flat keys, so they fit the pack's scalar params):

- ``transport``: ``tcp`` (default), ``rtu`` (serial line) or ``rtu-over-tcp``;
- ``tcp`` and ``rtu-over-tcp``: ``host``, ``port`` (502);
- ``rtu``: ``serial_port`` (e.g. ``/dev/ttyUSB0``), ``baudrate`` (19200), ``parity``
  (``E``, ``O`` or ``N``; default ``E``, the Modbus serial line default), ``stopbits``
  (1 or 2; default 1), ``bytesize`` (7 or 8; default 8);
- ``unit`` (device id, 1), ``timeout_s`` (3);
- per field ``F``: ``F.register`` (address, required to read F), ``F.type`` (``uint16``,
  ``int16``, ``uint32``, ``int32``, ``float32``; default ``uint16``), ``F.function``
  (``holding`` or ``input``; default ``holding``), ``F.scale`` (1), ``F.offset`` (0),
  ``F.word_order`` (``big`` or ``little`` for 32-bit values; default ``big``).

Any other key is an error, as is a key of another transport. value = raw * scale +
offset; a bool field is ``raw != 0``.

Sensors on one bus (the same serial port, or the same host and port) share one
connection, and their requests go one at a time: an RS-485 line carries one frame at a
time. They must agree on the line settings.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from cityhub.config.pack import AnySensor
from cityhub.fields import DOMAINS, Kind
from cityhub.senml import Value
from edge.drivers.base import DriverError

__all__ = ["ModbusDriver"]

_TYPES = {"uint16": (1, ">H"), "int16": (1, ">h"), "uint32": (2, ">I"), "int32": (2, ">i"),
          "float32": (2, ">f")}
_FIELD_KEYS = ("register", "type", "function", "scale", "offset", "word_order")
_TCP_KEYS = {"host", "port"}
_SERIAL_KEYS = {"serial_port", "baudrate", "parity", "stopbits", "bytesize"}
_PARITY = {"n": "N", "none": "N", "e": "E", "even": "E", "o": "O", "odd": "O"}
Scalar = str | int | float | bool


class _Link(BaseModel):
    """How to reach the device: the params that are not per field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: Literal["tcp", "rtu", "rtu-over-tcp"] = "tcp"
    host: str | None = None
    port: int = Field(502, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = Field(19200, gt=0)
    parity: str = "E"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    unit: int = Field(1, ge=0, le=255)
    timeout_s: float = Field(3.0, gt=0, le=60)

    @model_validator(mode="after")
    def _fits_transport(self) -> _Link:
        given = self.model_fields_set
        if self.transport == "rtu":
            if not self.serial_port:
                raise ValueError("transport rtu needs serial_port (e.g. /dev/ttyUSB0)")
            wrong = given & _TCP_KEYS
        else:
            if not self.host:
                raise ValueError(f"transport {self.transport} needs host")
            wrong = given & _SERIAL_KEYS
        if wrong:
            raise ValueError(f"{', '.join(sorted(wrong))} do(es) not apply to transport "
                             f"{self.transport}")
        if str(self.parity).lower() not in _PARITY:
            raise ValueError(f"parity must be E, O or N (got {self.parity!r})")
        return self

    @property
    def bus(self) -> tuple[object, ...]:
        """What identifies the bus (sensors with the same key share the connection)."""
        if self.transport == "rtu":
            return ("rtu", self.serial_port)
        return (self.transport, self.host, self.port)

    @property
    def settings(self) -> tuple[object, ...]:
        """What sensors sharing the bus must agree on."""
        return (self.baudrate, _PARITY[self.parity.lower()], self.stopbits, self.bytesize,
                self.timeout_s)

    def describe(self) -> str:
        if self.transport == "rtu":
            return (f"{self.serial_port} ({self.baudrate} baud, {self.bytesize}"
                    f"{_PARITY[self.parity.lower()]}{self.stopbits})")
        return f"{self.host}:{self.port}" + (" (RTU over TCP)"
                                             if self.transport == "rtu-over-tcp" else "")


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


def _split(sensor: AnySensor) -> tuple[dict[str, Scalar], dict[str, dict[str, Scalar]]]:
    """The params as (link params, per-field params); unknown names are errors."""
    link: dict[str, Scalar] = {}
    per_field: dict[str, dict[str, Scalar]] = {}
    problems = []
    catalogue = DOMAINS[sensor.domain]
    for key, value in sensor.params.items():
        name, dot, attr = key.partition(".")
        if not dot:
            link[key] = value
        elif name not in catalogue:
            problems.append(f"params.{key}: {name!r} is not a field of {sensor.domain.value} "
                            f"(known: {', '.join(catalogue)})")
        elif attr not in _FIELD_KEYS:
            problems.append(f"params.{key}: unknown key (per field: "
                            f"{', '.join(_FIELD_KEYS)})")
        else:
            per_field.setdefault(name, {})[attr] = value
    if problems:
        raise DriverError(f"sensor {sensor.id}: {'; '.join(problems)}")
    return link, per_field


def _link(sensor: AnySensor, params: dict[str, Scalar]) -> _Link:
    try:
        return _Link.model_validate(params)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(x) for x in err["loc"])
            msg = "unknown key (check the spelling)" if err["type"] == "extra_forbidden" \
                else err["msg"].removeprefix("Value error, ")
            problems.append(f"params.{where}: {msg}" if where else msg)
        raise DriverError(f"sensor {sensor.id}: the modbus driver: {'; '.join(problems)}"
                          ) from None


def _fields(sensor: AnySensor, per_field: dict[str, dict[str, Scalar]]) -> list[_Field]:
    out = []
    for name, p in per_field.items():
        spec = DOMAINS[sensor.domain][name]
        where = f"sensor {sensor.id}: {name}"
        if "register" not in p:
            raise DriverError(f"{where}.{next(iter(p))} is given but not {name}.register")
        if spec.kind is Kind.STRING:
            raise DriverError(f"{where}: string fields cannot be read over Modbus")
        kind = str(p.get("type", "uint16"))
        if kind not in _TYPES:
            raise DriverError(f"{where}.type must be one of {', '.join(_TYPES)}")
        function = str(p.get("function", "holding"))
        if function not in ("holding", "input"):
            raise DriverError(f"{where}.function must be holding or input")
        order = str(p.get("word_order", "big"))
        if order not in ("big", "little"):
            raise DriverError(f"{where}.word_order must be big or little")
        words, fmt = _TYPES[kind]
        try:
            register, scale, offset = (int(p["register"]), float(p.get("scale", 1)),
                                       float(p.get("offset", 0)))
        except (TypeError, ValueError):
            raise DriverError(f"{where}: register, scale and offset must be numbers"
                              ) from None
        if not 0 <= register <= 0xFFFF:
            raise DriverError(f"{where}.register must be 0..65535")
        out.append(_Field(name, register, words, fmt, function, scale, offset,
                          order == "little", spec.kind is Kind.BOOL))
    if not out:
        raise DriverError(f"sensor {sensor.id}: the modbus driver needs at least one "
                          "FIELD.register in params")
    return out


class _Bus:
    """One connection (serial port or TCP peer), shared by the sensors on it; one request
    at a time. The pymodbus client is made in the event loop that uses it."""

    def __init__(self, link: _Link, sensor: str) -> None:
        self.link = link
        self.first = sensor
        self.users = 0
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _make(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        k = self.link
        if k.transport == "rtu":
            assert k.serial_port is not None
            return AsyncModbusSerialClient(
                k.serial_port, framer=FramerType.RTU, baudrate=k.baudrate,
                bytesize=k.bytesize, parity=_PARITY[k.parity.lower()], stopbits=k.stopbits,
                timeout=k.timeout_s, retries=0)
        assert k.host is not None
        return AsyncModbusTcpClient(
            k.host, port=k.port, timeout=k.timeout_s, retries=0,
            framer=FramerType.RTU if k.transport == "rtu-over-tcp" else FramerType.SOCKET)

    def _current(self) -> tuple[AsyncModbusTcpClient | AsyncModbusSerialClient, asyncio.Lock]:
        loop = asyncio.get_running_loop()
        if self._client is None or self._lock is None or self._loop is not loop:
            if self._client is not None:
                self._client.close()
            self._client, self._lock, self._loop = self._make(), asyncio.Lock(), loop
        return self._client, self._lock

    async def read(self, fields: list[_Field], unit: int) -> dict[str, Value]:
        client, lock = self._current()
        async with lock:
            if not client.connected and not await client.connect():
                raise DriverError(f"cannot connect to the Modbus device at "
                                  f"{self.link.describe()}")
            out: dict[str, Value] = {}
            for f in fields:
                read = (client.read_holding_registers if f.function == "holding"
                        else client.read_input_registers)
                try:
                    rr = await read(f.register, count=f.words, device_id=unit)
                except (ModbusException, OSError) as e:
                    client.close()  # reconnect on the next read
                    raise DriverError(f"{f.name}: {e}") from e
                if rr.isError():
                    raise DriverError(f"{f.name}: device {unit} answered {rr}")
                regs = list(rr.registers)
                if f.little_words:
                    regs.reverse()
                raw = struct.unpack(f.fmt, b"".join(r.to_bytes(2, "big") for r in regs))[0]
                out[f.name] = raw != 0 if f.boolean else raw * f.scale + f.offset
            return out

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


_BUSES: dict[tuple[object, ...], _Bus] = {}


def _bus(sensor: AnySensor, link: _Link) -> _Bus:
    bus = _BUSES.get(link.bus)
    if bus is None:
        bus = _BUSES[link.bus] = _Bus(link, sensor.id)
    elif bus.link.settings != link.settings:
        raise DriverError(f"sensor {sensor.id}: {link.describe()} is also used by sensor "
                          f"{bus.first} with other settings ({bus.link.describe()}, timeout "
                          f"{bus.link.timeout_s} s); sensors on one bus must agree")
    bus.users += 1
    return bus


class ModbusDriver:
    def __init__(self, sensor: AnySensor) -> None:
        link_params, per_field = _split(sensor)
        link = _link(sensor, link_params)
        self.fields = _fields(sensor, per_field)
        self.unit = link.unit
        self.link = link
        self._bus: _Bus | None = _bus(sensor, link)

    async def read(self, t: float) -> dict[str, Value]:
        if self._bus is None:
            raise DriverError("the driver is closed")
        return await self._bus.read(self.fields, self.unit)

    async def aclose(self) -> None:
        bus, self._bus = self._bus, None
        if bus is None:
            return
        bus.users -= 1
        if bus.users <= 0:
            bus.close()
            if _BUSES.get(bus.link.bus) is bus:
                del _BUSES[bus.link.bus]
