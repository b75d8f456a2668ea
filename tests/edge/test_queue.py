"""The on-disk queue: numbered, durable across reopen, bounded by dropping the oldest."""

from __future__ import annotations

from pathlib import Path

import pytest

from cityhub.fields import Domain
from edge.queue import DiskQueue

T = 1_767_225_600 * 10**9


def items(n: int, start: int = 0) -> list[tuple[Domain, str, str, object, int]]:
    return [(Domain.TRAFFIC, "tfc-1", "intensity", float(i), T + i) for i in range(start,
                                                                                    start + n)]


def test_seq_is_monotonic_across_reopen_and_deletes(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    first = q.put(items(5))  # type: ignore[arg-type]
    assert [x.reading.seq for x in first] == [1, 2, 3, 4, 5]
    q.delete([4, 5])  # the newest rows are gone: their numbers are still never reused
    q.close()
    q = DiskQueue(tmp_path / "q.db")
    again = q.put(items(2, 5))  # type: ignore[arg-type]
    assert [x.reading.seq for x in again] == [6, 7]
    assert [x.reading.value for x in q.oldest(10)] == [0.0, 1.0, 2.0, 5.0, 6.0]
    assert q.stats().depth == 5
    q.close()


def test_values_keep_their_types(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    q.put([(Domain.LIGHTING, "lamp-1", "powerState", "on", T),
           (Domain.TRAFFIC, "tfc-1", "congested", True, T),
           (Domain.TRAFFIC, "tfc-1", "intensity", 3.0, T)])
    assert [x.reading.value for x in q.oldest(3)] == ["on", True, 3.0]
    assert [x.domain for x in q.oldest(3)] == [Domain.LIGHTING, Domain.TRAFFIC, Domain.TRAFFIC]
    q.close()


def test_bound_drops_oldest_counts_and_keeps_newest(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    q = DiskQueue(tmp_path / "q.db", max_bytes=100 * 70)  # about 100 readings
    q.put(items(80))  # type: ignore[arg-type]
    q.put(items(80, 80))  # type: ignore[arg-type]
    s = q.stats()
    assert s.bytes <= q.max_bytes and s.dropped == 160 - s.depth > 0
    kept = [x.reading.value for x in q.oldest(1000)]
    assert kept == [float(i) for i in range(160 - s.depth, 160)]  # the newest survive
    assert "dropped the" in caplog.text
    q.close()
    assert DiskQueue(tmp_path / "q.db").stats().dropped == s.dropped  # the count persists


def test_live_and_backlog_selection(tmp_path: Path) -> None:
    q = DiskQueue(tmp_path / "q.db")
    q.put(items(10))  # type: ignore[arg-type]
    assert [x.reading.seq for x in q.since(8, 100)] == [8, 9, 10]
    assert [x.reading.seq for x in q.oldest(3, below=8)] == [1, 2, 3]
    assert q.stats().oldest_age_s is not None
    q.close()
