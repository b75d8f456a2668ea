"""The hub's SQLite files: opened one way, readings' values stored one way.

SQLite would store a bool as an integer; a ``kind`` column beside each value (``f`` float,
``s`` string, ``b`` bool) gives the reading back with the type it had.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from cityhub.senml import Value

__all__ = ["migrate", "open_sqlite", "transaction", "typed_value", "value_kind"]


def open_sqlite(path: str | Path, *, synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
                ) -> sqlite3.Connection:
    """A connection in WAL mode, shareable across threads (callers hold their own lock),
    autocommit (callers say BEGIN). ``synchronous=FULL`` fsyncs every commit: for data
    whose acknowledgement depends on it (the spool)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout=5000")
        _retry_locked(db, "PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def transaction(db: sqlite3.Connection, lock: threading.Lock | threading.RLock
                ) -> Iterator[sqlite3.Connection]:
    """One write transaction on a connection of :func:`open_sqlite` (autocommit), under
    the caller's lock: ``BEGIN IMMEDIATE`` (the write lock taken at once, so two writers
    never deadlock upgrading), committed at the end, rolled back if the block raises."""
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def migrate(db: sqlite3.Connection, target: int, steps: Mapping[int, Sequence[str]], *,
            refuse: Callable[[sqlite3.Connection, int], BaseException | None]) -> int:
    """Bring a hub file to schema ``target`` (kept in ``PRAGMA user_version``) in one
    transaction (BEGIN IMMEDIATE), so processes opening a file together create or migrate
    it once. ``steps[n]`` are the statements that take version n - 1 to n (step 1 makes
    the tables of a new file); ``refuse(db, version)`` returns the error to raise instead
    (a file of a newer schema, another program's file), or None. Returns the version the
    file had."""
    db.execute("BEGIN IMMEDIATE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        error = refuse(db, version)
        if error is not None:
            raise error
        for step in range(version + 1, target + 1):
            for sql in steps[step]:  # one by one: executescript would commit first
                db.execute(sql)
        if version != target:
            db.execute(f"PRAGMA user_version = {int(target)}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return version


def _retry_locked(db: sqlite3.Connection, sql: str, timeout_s: float = 10.0) -> None:
    """Run ``sql``, again while another process holds the lock it needs. Switching a new
    file to WAL needs an exclusive lock, and SQLite answers "database is locked" at once,
    without its busy handler, when processes opening one file together would otherwise
    deadlock (ingest workers sharing their dead-letter file did, 6 times in 300 starts
    of six processes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute(sql)
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def value_kind(v: Value) -> str:
    """The ``kind`` column for a reading's value."""
    return "b" if isinstance(v, bool) else "s" if isinstance(v, str) else "f"


def typed_value(kind: str, v: object) -> Value:
    """A stored value back with its type."""
    return bool(v) if kind == "b" else str(v) if kind == "s" else float(v)  # type: ignore[arg-type]
