"""The hub's SQLite files opened by several processes at once (ingest workers share their
dead-letter file): none fails with "database is locked"."""

from __future__ import annotations

import multiprocessing as mp
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from cityhub.sqlitedb import open_sqlite

PROCESSES = 6


def _open(path: str, start: Barrier, out: mp.Queue[str]) -> None:
    start.wait()
    try:
        db = open_sqlite(path)
        db.execute("CREATE TABLE IF NOT EXISTS t (x)")
        db.close()
        out.put("ok")
    except Exception as e:  # reported to the test, which fails on it
        out.put(repr(e))


def test_processes_opening_a_new_file_together(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    failures = []
    for round_ in range(60):
        path = str(tmp_path / f"shared-{round_}.db")
        start, out = ctx.Barrier(PROCESSES), ctx.Queue()
        procs = [ctx.Process(target=_open, args=(path, start, out)) for _ in range(PROCESSES)]
        for p in procs:
            p.start()
        results = [out.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(60)
        failures += [r for r in results if r != "ok"]
    assert failures == []


def test_a_transaction_commits_or_rolls_back(tmp_path: Path) -> None:
    import threading

    from cityhub.sqlitedb import transaction

    db, lock = open_sqlite(tmp_path / "t.db"), threading.Lock()
    db.execute("CREATE TABLE t (x INTEGER)")
    with transaction(db, lock):
        db.execute("INSERT INTO t VALUES (1)")

    def fails() -> None:
        with transaction(db, lock):
            db.execute("INSERT INTO t VALUES (2)")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        fails()
    assert [r[0] for r in db.execute("SELECT x FROM t")] == [1]
    assert not db.in_transaction and not lock.locked()
    db.close()
