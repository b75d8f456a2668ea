"""Opening the hub's SQLite files the one way they are all opened."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

__all__ = ["open_sqlite"]


def open_sqlite(path: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
                ) -> sqlite3.Connection:
    """A connection in WAL mode, shareable across threads (callers hold their own lock),
    autocommit (callers say BEGIN). ``synchronous=FULL`` fsyncs every commit: for data
    whose acknowledgement depends on it (the spool)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=5000")
    return db
