"""The spool: batches the store could not take, kept on disk until it can.

SQLite in WAL mode with ``synchronous=FULL``, so a batch is on disk (fsync'd) when
:meth:`Spool.append` returns, and only then are its messages acknowledged. Bounded in
bytes: when full, :meth:`append` says no and the ingester stops acknowledging, so the
broker keeps the backlog (backpressure, never a silent drop).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import orjson

from cityhub.point import Point
from cityhub.sqlitedb import open_sqlite

__all__ = ["Spool"]


def _dump(points: Sequence[Point]) -> bytes:
    rows = [[p.measurement, p.tags, dict(p.fields), p.time_ns] for p in points]
    return zlib.compress(orjson.dumps(rows), 1)


def _load(blob: bytes) -> list[Point]:
    return [Point(m, tuple((k, v) for k, v in tags), fields, t)
            for m, tags, fields, t in orjson.loads(zlib.decompress(blob))]


class Spool:
    """A bounded FIFO of point batches on disk."""

    def __init__(self, path: str | Path, max_bytes: int) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self._db = open_sqlite(self.path, synchronous="FULL")
        self._db.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, "
                         "created_ns INTEGER NOT NULL, points INTEGER NOT NULL, body BLOB)")
        self._lock = threading.Lock()
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM spool"
                               ).fetchone()
        self.batches, self.bytes = int(row[0]), int(row[1])

    def append(self, points: Sequence[Point]) -> bool:
        """Keep a batch durably; False (nothing kept) if it would exceed the bound."""
        blob = _dump(points)
        with self._lock:
            if self.bytes + len(blob) > self.max_bytes:
                return False
            self._db.execute("INSERT INTO spool (created_ns, points, body) VALUES (?, ?, ?)",
                             (time.time_ns(), len(points), blob))
            self.batches += 1
            self.bytes += len(blob)
        return True

    def oldest(self) -> tuple[int, list[Point]] | None:
        """The oldest batch (id, points), or None when empty."""
        with self._lock:
            row = self._db.execute("SELECT id, body FROM spool ORDER BY id LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), _load(row[1]))

    def remove(self, batch_id: int) -> None:
        with self._lock:
            row = self._db.execute("SELECT LENGTH(body) FROM spool WHERE id = ?",
                                   (batch_id,)).fetchone()
            if row is None:
                return
            self._db.execute("DELETE FROM spool WHERE id = ?", (batch_id,))
            self.batches -= 1
            self.bytes -= int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
