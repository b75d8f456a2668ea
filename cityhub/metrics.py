"""A small HTTP endpoint for a service: Prometheus ``/metrics`` and a ``/healthz`` probe.

Runs on the service's own event loop (no thread): a service passes its registry and a
health function, and gets an async context manager. A service serving several cities
passes :func:`per_city` of its cities' registries and :func:`per_city_health` of their
health functions: one endpoint, every sample labelled with its ``city``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = ["Health", "per_city", "per_city_health", "serve_metrics"]

Health = Callable[[], tuple[bool, dict[str, Any]]]


class _PerCity(Collector):
    def __init__(self, registries: Mapping[str, CollectorRegistry]) -> None:
        self.registries = dict(registries)

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for city, registry in self.registries.items():
            for family in registry.collect():
                merged = families.get(family.name)
                if merged is None:
                    merged = families[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit)
                for s in family.samples:
                    merged.add_sample(s.name, {"city": city, **s.labels}, s.value,
                                      s.timestamp, s.exemplar)
        yield from families.values()


def per_city(registries: Mapping[str, CollectorRegistry]) -> CollectorRegistry:
    """One registry over several cities' (city id -> registry; the same metrics in each):
    every sample gets a ``city`` label, so one ``/metrics`` serves them all."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_PerCity(registries))
    return registry


def per_city_health(healths: Mapping[str, Health]) -> Health:
    """One health function over several cities' (city id -> health): healthy while every
    city is; the detail of each under ``cities``."""

    def health() -> tuple[bool, dict[str, Any]]:
        detail: dict[str, Any] = {}
        ok = True
        for city, one in healths.items():
            city_ok, city_detail = one()
            ok = ok and city_ok
            detail[city] = {"ok": city_ok, **city_detail}
        return ok, {"cities": detail}

    return health


def _response(status: str, ctype: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n")
    return head.encode() + body


@contextlib.asynccontextmanager
async def serve_metrics(registry: CollectorRegistry, health: Health, *, host: str = "127.0.0.1",
                        port: int = 9108) -> AsyncIterator[int]:
    """Serve ``/metrics`` and ``/healthz`` (200 healthy / 503 not, JSON detail) until the
    block ends; yields the bound port (``port=0`` picks a free one)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                request = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) > 1 else ""
            if path == "/metrics":
                out = _response("200 OK", CONTENT_TYPE_LATEST, generate_latest(registry))
            elif path == "/healthz":
                ok, detail = health()
                out = _response("200 OK" if ok else "503 Service Unavailable",
                                "application/json", orjson.dumps({"ok": ok, **detail}))
            else:
                out = _response("404 Not Found", "text/plain", b"try /metrics or /healthz\n")
            writer.write(out)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    bound = int(server.sockets[0].getsockname()[1])
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()
