"""The edge agent's store-and-forward queue: every reading is on disk before any publish.

SQLite in WAL mode with ``synchronous=FULL`` (a sampling round is one fsync'd
transaction), so a reading that reached the queue survives a crash or power loss. The
gateway's sequence number is the row id with AUTOINCREMENT: monotonic across restarts and
never reused, even after rows are deleted. A reading leaves the queue only when
:meth:`delete` is called after its PUBACK.

Bounded in bytes: when full, the oldest readings are dropped, counted (the count is kept
on disk) and logged; sampling is never blocked.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cityhub.fields import Domain
from cityhub.senml import Reading, Value
from cityhub.sqlitedb import open_sqlite, typed_value, value_kind

__all__ = ["DiskQueue", "QueueStats", "Queued"]

log = logging.getLogger("cityhub.edge")
_IN_CHUNK = 500  # seqs per "IN (...)": under SQLite's oldest bound of 999 parameters
_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    domain TEXT NOT NULL, device TEXT NOT NULL, field TEXT NOT NULL,
    kind TEXT NOT NULL, value, time_ns INTEGER NOT NULL, enqueued_ns INTEGER NOT NULL,
    size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Queued:
    domain: Domain
    reading: Reading  # with its seq


@dataclass(frozen=True, slots=True)
class QueueStats:
    depth: int
    bytes: int
    oldest_age_s: float | None
    dropped: int
    next_seq: int


class DiskQueue:
    """A bounded FIFO of readings on disk, numbered by the gateway's ``seq``."""

    def __init__(self, path: str | Path, *, max_bytes: int = 64 << 20) -> None:
        self.path = str(path)
        self.max_bytes = max_bytes
        self._db = open_sqlite(self.path, synchronous="FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM queue").fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])

    def put(self, items: Iterable[tuple[Domain, str, str, Value, int]]) -> list[Queued]:
        """Enqueue (domain, device, field, value, time_ns) readings in one transaction;
        return them numbered. Drops the oldest readings if the bound is exceeded."""
        now = time.time_ns()
        out: list[Queued] = []
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for domain, device, field, value, t in items:
                    size = 48 + len(device) + len(field) + (len(value) if isinstance(
                        value, str) else 8)
                    cur = self._db.execute(
                        "INSERT INTO queue (domain, device, field, kind, value, time_ns, "
                        "enqueued_ns, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (domain.value, device, field, value_kind(value), value, t, now, size))
                    out.append(Queued(domain, Reading(device, field, value, t,
                                                      int(cur.lastrowid or 0))))
                    self._depth += 1
                    self._bytes += size
                dropped = self._enforce_bound()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._reload()
                raise
        if dropped:
            log.warning("edge: queue full (%d bytes): dropped the %d oldest readings",
                        self.max_bytes, dropped)
        return out

    def _reload(self) -> None:
        row = self._db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM queue").fetchone()
        self._depth, self._bytes = int(row[0]), int(row[1])

    def _enforce_bound(self) -> int:
        dropped = 0
        while self._bytes > self.max_bytes and self._depth:
            rows = self._db.execute("SELECT seq, size FROM queue ORDER BY seq LIMIT 500"
                                    ).fetchall()
            cut, freed = [], 0
            for seq, size in rows:
                if self._bytes - freed <= self.max_bytes:
                    break
                cut.append(seq)
                freed += size
            self._db.execute("DELETE FROM queue WHERE seq <= ?", (cut[-1],))
            self._depth -= len(cut)
            self._bytes -= freed
            dropped += len(cut)
        if dropped:
            self._db.execute("INSERT INTO meta VALUES ('dropped', ?) ON CONFLICT (key) "
                             "DO UPDATE SET value = value + excluded.value", (dropped,))
        return dropped

    def _rows(self, sql: str, args: Sequence[object]) -> list[Queued]:
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [Queued(Domain(d), Reading(dev, f, typed_value(k, v), t, seq))
                for seq, d, dev, f, k, v, t in rows]

    def oldest(self, limit: int, *, below: int | None = None) -> list[Queued]:
        """Up to ``limit`` readings, oldest first (``seq < below`` if given)."""
        where = "" if below is None else f"WHERE seq < {int(below)}"
        return self._rows("SELECT seq, domain, device, field, kind, value, time_ns FROM "
                          f"queue {where} ORDER BY seq LIMIT ?", (limit,))

    def since(self, seq: int, limit: int) -> list[Queued]:
        """Up to ``limit`` readings with ``seq >= seq``, oldest first (the live ones)."""
        return self._rows("SELECT seq, domain, device, field, kind, value, time_ns FROM "
                          "queue WHERE seq >= ? ORDER BY seq LIMIT ?", (seq, limit))

    def delete(self, seqs: Iterable[int]) -> int:
        """Remove readings whose PUBACK arrived, in one transaction; how many were still
        queued. The depth and size are updated from the rows removed (never a scan of the
        whole queue: after an outage it holds hundreds of thousands)."""
        ids = list(seqs)
        removed = freed = 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for i in range(0, len(ids), _IN_CHUNK):
                    part = ids[i:i + _IN_CHUNK]
                    marks = ",".join("?" * len(part))
                    n, size = self._db.execute(
                        f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM queue WHERE seq IN "
                        f"({marks})", part).fetchone()
                    self._db.execute(f"DELETE FROM queue WHERE seq IN ({marks})", part)
                    removed += int(n)
                    freed += int(size)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._depth -= removed
            self._bytes -= freed
        return removed

    def stats(self) -> QueueStats:
        with self._lock:
            row = self._db.execute("SELECT enqueued_ns FROM queue ORDER BY seq LIMIT 1"
                                   ).fetchone()
            oldest = row[0] if row else None
            dropped = self._db.execute("SELECT value FROM meta WHERE key = 'dropped'"
                                       ).fetchone()
            seq = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'queue'"
                                   ).fetchone()
        age = None if oldest is None else (time.time_ns() - int(oldest)) / 1e9
        return QueueStats(self._depth, self._bytes, age, int(dropped[0]) if dropped else 0,
                          (int(seq[0]) if seq else 0) + 1)

    def close(self) -> None:
        with self._lock:
            self._db.close()
