"""``command`` driver: run a program and read its stdout.

Sensor params: ``command`` (the program and its arguments, split like a shell would, not
run through a shell), ``format`` (``json``: an object of field -> value; ``senml``: a SenML
pack for this device), ``timeout_s`` (default 10). A non-zero exit, a timeout or output
that is not what ``format`` says is a :class:`DriverError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import shlex

import orjson

from cityhub.config.pack import AnySensor
from cityhub.errors import DecodeError
from cityhub.senml import Value, decode_pack
from edge.drivers.base import DriverError

__all__ = ["CommandDriver"]


class CommandDriver:
    def __init__(self, sensor: AnySensor) -> None:
        p = sensor.params
        if not isinstance(p.get("command"), str) or not p["command"]:
            raise DriverError(f"sensor {sensor.id}: the command driver needs params.command")
        self.sensor = sensor
        self.argv = shlex.split(str(p["command"]))
        self.format = str(p.get("format", "json"))
        if self.format not in ("json", "senml"):
            raise DriverError(f"sensor {sensor.id}: params.format must be json or senml")
        self.timeout_s = float(p.get("timeout_s", 10))

    async def read(self, t: float) -> dict[str, Value]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except OSError as e:
            raise DriverError(f"cannot run {self.argv[0]!r}: {e}") from e
        try:
            async with asyncio.timeout(self.timeout_s):
                out, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise DriverError(f"{self.argv[0]!r} timed out after {self.timeout_s}s") from None
        if proc.returncode != 0:
            raise DriverError(f"{self.argv[0]!r} exited with {proc.returncode}: "
                              f"{err.decode(errors='replace')[:200]}")
        if self.format == "senml":
            try:
                readings = decode_pack(out, domain=self.sensor.domain, device=self.sensor.id)
            except DecodeError as e:
                raise DriverError(f"output is not a valid SenML pack: {e}") from e
            return {r.field: r.value for r in readings}
        try:
            doc = orjson.loads(out)
        except orjson.JSONDecodeError as e:
            raise DriverError(f"output is not JSON: {e}") from e
        if not isinstance(doc, dict):
            raise DriverError("output must be a JSON object of field: value")
        return doc

    async def aclose(self) -> None:
        pass
