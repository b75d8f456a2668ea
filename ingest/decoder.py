"""Topic + payload -> points, checked against the wire contract and the city pack.

Pure and synchronous: the ingester calls it once per message. Every refusal is a
:class:`~cityhub.errors.DecodeError` whose ``reason`` is a short code (a metric label and
the dead letter's reason) and whose message says what is wrong.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cityhub.config.pack import CityPack
from cityhub.errors import ContractError
from cityhub.point import Point, points_from_readings
from cityhub.senml import MAX_PACK_BYTES, decode_pack
from cityhub.topics import parse_telemetry

__all__ = ["Decoder"]


class Decoder:
    """Decodes telemetry of one city pack.

    ``max_future_s``: readings stamped further than this ahead of the ingester's clock are
    refused (a device with a wrong clock); the clock is never used to stamp a reading.
    """

    def __init__(self, pack: CityPack, *, max_future_s: float = 300.0,
                 max_bytes: int = MAX_PACK_BYTES, clock: Callable[[], float] = time.time
                 ) -> None:
        self.pack = pack
        self.max_future_ns = int(max_future_s * 1e9)
        self.max_bytes = max_bytes
        self.clock = clock
        self._tags = {d: pack.tags_of(d) for d in pack.sensors}

    def decode(self, topic: str, payload: bytes) -> list[Point]:
        t = parse_telemetry(topic)
        if t.city != self.pack.city.id:
            raise ContractError("unknown_city", f"topic city {t.city!r} is not "
                                f"{self.pack.city.id!r}, the city this ingester serves")
        readings = decode_pack(payload, domain=t.domain, device=t.device,
                               max_bytes=self.max_bytes)
        now_ns = int(self.clock() * 1e9)
        limit = now_ns + self.max_future_ns
        sensors = self.pack.sensors
        for i, r in enumerate(readings):
            found = sensors.get(r.device)
            if found is None:
                raise ContractError("unknown_device", f"record {i}: device {r.device!r} is "
                                    f"not in the {self.pack.city.id} city pack")
            gw, sensor = found
            if gw.id != t.gateway:
                raise ContractError("wrong_gateway", f"record {i}: device {r.device!r} "
                                    f"belongs to gateway {gw.id!r}, not {t.gateway!r}")
            if sensor.domain != t.domain:
                raise ContractError("wrong_domain", f"record {i}: device {r.device!r} is a "
                                    f"{sensor.domain} sensor, published under {t.domain}")
            if r.time_ns > limit:
                ahead = (r.time_ns - now_ns) / 1e9
                raise ContractError("future_time", f"record {i} ({r.device}:{r.field}): "
                                    f"time is {ahead:.0f} s ahead of the ingester's clock "
                                    f"(limit {self.max_future_ns / 1e9:.0f} s)")
        return points_from_readings(t.domain.value, readings, self._tags.__getitem__)
