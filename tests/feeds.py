"""Listening in the tests: every message on some topics while a block runs, through a real
aiomqtt client (QoS 1 subscriptions made before the block starts, a background reader)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

import aiomqtt

T = TypeVar("T")


@contextlib.asynccontextmanager
async def received(port: int, filters: Sequence[str], keep: Callable[[str, bytes], T], *,
                   name: str = "feed") -> AsyncIterator[list[T]]:
    """``keep(topic, payload)`` of every message on ``filters`` while the block runs, in
    the order they arrive."""
    got: list[T] = []
    async with aiomqtt.Client("127.0.0.1", port,
                              identifier=f"{name}-{uuid.uuid4().hex[:6]}") as c:
        for f in filters:
            await c.subscribe(f, qos=1)

        async def take() -> None:
            async for m in c.messages:
                assert isinstance(m.payload, bytes)
                got.append(keep(m.topic.value, m.payload))
        task = asyncio.create_task(take())
        try:
            yield got
        finally:
            task.cancel()
