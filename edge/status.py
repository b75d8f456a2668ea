"""The agent's status file: what ``cityhub edge status`` reads of a running agent.

The publisher writes its status (state, uptime, last PUBACK, each sensor's driver health)
as JSON beside its queue file, atomically, on every heartbeat and when it stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

__all__ = ["read_status", "status_path"]


def status_path(queue_path: str | Path) -> Path:
    """Where the agent using the queue file ``queue_path`` writes its status."""
    return Path(f"{queue_path}.status.json")


def read_status(queue_path: str | Path) -> dict[str, Any] | None:
    """The status the agent last wrote, or None if it has written none yet."""
    path = status_path(queue_path)
    if not path.exists():
        return None
    status: dict[str, Any] = orjson.loads(path.read_bytes())
    return status
