"""The embedded store: SQLite in WAL mode, for the demo and one-box installs.

Mirrors InfluxDB's model: a point is identified by measurement + tags + time, and writing
it again overwrites its fields (idempotent). A ``latest`` table kept on write makes
"latest per device" a small read whatever the history size.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import orjson

from cityhub.errors import SinkError
from cityhub.point import Point
from cityhub.senml import Value
from cityhub.sqlitedb import open_sqlite, typed_value, value_kind
from cityhub.store.base import LATEST_MEASUREMENTS, Latest

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY,
    measurement TEXT NOT NULL,
    tags TEXT NOT NULL,
    city TEXT NOT NULL,
    device TEXT NOT NULL,
    UNIQUE (measurement, tags)
);
CREATE INDEX IF NOT EXISTS series_device ON series (measurement, device);
CREATE TABLE IF NOT EXISTS readings (
    series INTEGER NOT NULL,
    field TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value,
    PRIMARY KEY (series, field, time_ns)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS latest (
    series INTEGER NOT NULL,
    field TEXT NOT NULL,
    time_ns INTEGER NOT NULL,
    kind TEXT NOT NULL,
    value,
    PRIMARY KEY (series, field)
) WITHOUT ROWID;
"""
_LATEST = ", ".join("?" * len(LATEST_MEASUREMENTS))  # the IN list of latest()


class SQLiteStore:
    """A :class:`~cityhub.store.base.Store` in one SQLite file (``":memory:"`` for tests).

    Work runs on a worker thread so the event loop never blocks on disk.
    """

    line_protocol = False

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = open_sqlite(self.path)
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}

    async def __aenter__(self) -> SQLiteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def ping(self) -> str:
        return f"SQLite {sqlite3.sqlite_version} at {self.path}"

    def _series_id(self, p: Point) -> int:
        key = (p.measurement, p.tags)
        sid = self._series.get(key)
        if sid is None:
            tags = dict(p.tags)
            blob = orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode()
            self._db.execute(
                "INSERT OR IGNORE INTO series (measurement, tags, city, device) "
                "VALUES (?, ?, ?, ?)",
                (p.measurement, blob, tags.get("city", ""), tags.get("device", "")))
            row = self._db.execute("SELECT id FROM series WHERE measurement=? AND tags=?",
                                   (p.measurement, blob)).fetchone()
            sid = self._series[key] = int(row[0])
        return sid

    def write_sync(self, points: Sequence[Point]) -> None:
        """Blocking write of one batch in one transaction."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                rows = [(self._series_id(p), k, p.time_ns, value_kind(v), v)
                        for p in points for k, v in p.fields.items()]
                self._db.executemany(
                    "INSERT OR REPLACE INTO readings VALUES (?, ?, ?, ?, ?)", rows)
                self._db.executemany(
                    "INSERT INTO latest VALUES (?, ?, ?, ?, ?) ON CONFLICT (series, field) "
                    "DO UPDATE SET time_ns=excluded.time_ns, kind=excluded.kind, "
                    "value=excluded.value WHERE excluded.time_ns >= latest.time_ns", rows)
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._series.clear()
                raise SinkError(f"sqlite {self.path}: {e}", retryable=True) from e

    async def write(self, points: Sequence[Point]) -> None:
        if points:
            await asyncio.to_thread(self.write_sync, points)

    def latest_sync(self, *, city: str, since_ns: int | None = None) -> list[Latest]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.id, s.measurement, s.tags, l.field, l.time_ns, l.kind, l.value "
                "FROM latest l JOIN series s ON s.id = l.series "
                f"WHERE s.city = ? AND l.time_ns >= ? AND s.measurement IN ({_LATEST}) "
                "ORDER BY s.id",
                (city, since_ns if since_ns is not None else -(2**63), *LATEST_MEASUREMENTS)
            ).fetchall()
        # One pass over the rows (in series order): like InfluxDB's "last point", each
        # series keeps only the fields written at its newest time.
        out = []
        sid_now, meas_now, tags_now = None, "", ""
        fields: dict[str, Value] = {}
        newest = 0
        for sid, meas, tags, field, t, kind, value in rows:
            if sid != sid_now:
                if sid_now is not None:
                    out.append(Latest(meas_now, orjson.loads(tags_now), fields, newest))
                sid_now, meas_now, tags_now, fields, newest = sid, meas, tags, {}, t
            if t > newest:
                fields, newest = {}, t
            if t == newest:
                fields[field] = typed_value(kind, value)
        if sid_now is not None:
            out.append(Latest(meas_now, orjson.loads(tags_now), fields, newest))
        return out

    async def latest(self, *, city: str, since_ns: int | None = None) -> list[Latest]:
        return await asyncio.to_thread(self.latest_sync, city=city, since_ns=since_ns)

    def history_sync(self, *, measurement: str, device: str, field: str, start_ns: int,
                     stop_ns: int, city: str, window_s: float | None = None
                     ) -> list[tuple[int, float]]:
        base = ("FROM readings r JOIN series s ON s.id = r.series WHERE s.measurement = ? "
                "AND s.device = ? AND s.city = ? AND r.field = ? AND r.kind = 'f' "
                "AND r.time_ns >= ? AND r.time_ns < ?")
        args = (measurement, device, city, field, start_ns, stop_ns)
        with self._lock:
            if window_s is None:
                rows = self._db.execute(f"SELECT r.time_ns, r.value {base} ORDER BY r.time_ns",
                                        args).fetchall()
            else:
                w = int(window_s * 1e9)
                rows = self._db.execute(
                    f"SELECT (r.time_ns / {w}) * {w} AS bucket, AVG(r.value) {base} "
                    "GROUP BY bucket ORDER BY bucket", args).fetchall()
        return [(int(t), float(v)) for t, v in rows]

    async def history(self, *, measurement: str, device: str, field: str, start_ns: int,
                      stop_ns: int, city: str, window_s: float | None = None
                      ) -> list[tuple[int, float]]:
        return await asyncio.to_thread(
            self.history_sync, measurement=measurement, device=device, field=field,
            start_ns=start_ns, stop_ns=stop_ns, window_s=window_s, city=city)

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()
