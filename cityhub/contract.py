"""The wire contract's decoder: one telemetry message (topic + payload) checked against
the city pack, as readings.

Strict SenML (:func:`cityhub.senml.decode_pack`), then the checks the topic's identity
asks for: the topic's city is the pack's, every device of the pack is in the pack, belongs
to the topic's gateway and is a sensor of the topic's domain, and no reading is stamped
further ahead of the consumer's clock than ``max_future_ns`` (a device with a wrong clock;
the clock never stamps a reading). Every refusal is a :class:`~cityhub.errors.DecodeError`
whose ``reason`` is a short code and whose message names the record and the problem.

Every consumer of telemetry decodes with this: the ingester's reference path (which its
faster paths are held to) and the analytics service.
"""

from __future__ import annotations

from cityhub.config.pack import CityPack
from cityhub.errors import ContractError
from cityhub.senml import MAX_PACK_BYTES, Reading, decode_pack
from cityhub.topics import TelemetryTopic, parse_telemetry

__all__ = ["decode_telemetry"]


def decode_telemetry(pack: CityPack, topic: str, payload: bytes, *, now_ns: int,
                     max_future_ns: int, max_bytes: int = MAX_PACK_BYTES
                     ) -> tuple[TelemetryTopic, list[Reading]]:
    """The topic's parts and the message's readings; raises
    :class:`~cityhub.errors.DecodeError`."""
    t = parse_telemetry(topic)
    if t.city != pack.city.id:
        raise ContractError("unknown_city", f"topic city {t.city!r} is not "
                            f"{pack.city.id!r}, the city this service serves")
    readings = decode_pack(payload, domain=t.domain, device=t.device, max_bytes=max_bytes)
    limit = now_ns + max_future_ns
    sensors = pack.sensors
    for i, r in enumerate(readings):
        found = sensors.get(r.device)
        if found is None:
            raise ContractError("unknown_device", f"record {i}: device {r.device!r} is "
                                f"not in the {pack.city.id} city pack")
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
                                f"time is {ahead:.0f} s ahead of the consumer's clock "
                                f"(limit {max_future_ns / 1e9:.0f} s)")
    return t, readings
