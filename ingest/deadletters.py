"""Dead letters: every refused message kept with its reason, in SQLite (WAL)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cityhub.sqlitedb import open_sqlite

__all__ = ["DeadLetter", "DeadLetters"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    time_ns: int
    topic: str
    payload: bytes
    reason: str
    detail: str


class DeadLetters:
    """An append-only store of refused messages (topic, payload, reason, detail, time)."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_sqlite(self.path)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS deadletters (id INTEGER PRIMARY KEY, time_ns INTEGER "
            "NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, reason TEXT NOT NULL, "
            "detail TEXT NOT NULL)")
        self._lock = threading.Lock()

    def add_many(self, items: list[tuple[str, bytes, str, str]]) -> None:
        """Keep (topic, payload, reason, detail) items durably, in one transaction."""
        now = time.time_ns()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO deadletters (time_ns, topic, payload, reason, detail) "
                "VALUES (?, ?, ?, ?, ?)", [(now, t, p, r, d) for t, p, r, d in items])
            self._db.execute("COMMIT")

    def list(self, limit: int = 50, reason: str | None = None) -> list[DeadLetter]:
        """The newest dead letters first."""
        q = "SELECT id, time_ns, topic, payload, reason, detail FROM deadletters"
        args: tuple[object, ...] = ()
        if reason:
            q += " WHERE reason = ?"
            args = (reason,)
        with self._lock:
            rows = self._db.execute(q + " ORDER BY id DESC LIMIT ?", (*args, limit)).fetchall()
        return [DeadLetter(*r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT reason, COUNT(*) FROM deadletters GROUP BY reason").fetchall()
        return {r: int(n) for r, n in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
