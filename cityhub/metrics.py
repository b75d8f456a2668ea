"""A small HTTP endpoint for a service: Prometheus ``/metrics`` and a ``/healthz`` probe.

Runs on the service's own event loop (no thread): a service passes its registry and a
health function, and gets an async context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

__all__ = ["serve_metrics"]

Health = Callable[[], tuple[bool, dict[str, Any]]]


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
