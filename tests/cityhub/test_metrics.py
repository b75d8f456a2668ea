"""One /metrics and /healthz for a service serving several cities."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.parser import text_string_to_metric_families

from cityhub.metrics import per_city, per_city_health, serve_metrics


def _registry(messages: int, up: float) -> CollectorRegistry:
    r = CollectorRegistry()
    Counter("x_messages", "messages", ["reason"], registry=r).labels("bad").inc(messages)
    Gauge("x_up", "up", registry=r).set(up)
    return r


async def _get(port: int, path: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    raw = (await reader.read()).decode()
    writer.close()
    head, _, body = raw.partition("\r\n\r\n")
    return head.splitlines()[0], body


def test_every_sample_carries_its_city_over_http() -> None:
    registry = per_city({"bandung": _registry(3, 1), "bogor": _registry(5, 0)})
    health = per_city_health({"bandung": lambda: (True, {"n": 1}),
                              "bogor": lambda: (False, {"n": 2})})

    async def main() -> tuple[tuple[str, str], tuple[str, str]]:
        async with serve_metrics(registry, health, port=0) as port:
            return await _get(port, "/metrics"), await _get(port, "/healthz")

    (status, text), (hstatus, hbody) = asyncio.run(main())
    assert status.endswith("200 OK")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("x_messages_total", (("city", "bandung"), ("reason", "bad")))] == 3
    assert samples[("x_messages_total", (("city", "bogor"), ("reason", "bad")))] == 5
    assert samples[("x_up", (("city", "bandung"),))] == 1
    assert samples[("x_up", (("city", "bogor"),))] == 0
    # one family per metric, not one per city
    assert text.count("# TYPE x_up gauge") == 1
    assert hstatus.endswith("503 Service Unavailable")  # bogor is not healthy
    assert '"bandung":{"ok":true,"n":1}' in hbody and '"bogor":{"ok":false,"n":2}' in hbody
