"""``cityhub analytics backfill`` on a SQLite store with two known days: the derived
series hold what the kernels say of each reading, at the reading's own time, and a second
run stores nothing twice."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from cityhub.cli import main
from cityhub.store import SQLiteStore
from tests.analytics.test_report import MONDAY, filled  # noqa: F401  (the fixture)

NS = 10**9


def _rows(db: Path, measurement: str) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT count(*) FROM readings r JOIN series s ON s.id = "
                             "r.series WHERE s.measurement = ?", (measurement,)).fetchone()[0])


def _backfill(pack_dir: Path, db: Path) -> int:
    return main(["analytics", "backfill", "--city", str(pack_dir), "--sqlite", str(db),
                 "--from", "2026-01-05", "--to", "2026-01-07"])


def test_backfill_derives_every_reading_once(filled: Path,  # noqa: F811
                                             small_pack_dir: Path) -> None:
    assert _backfill(small_pack_dir, filled) == 0
    counts = {m: _rows(filled, m) for m in ("traffic_state", "flood_state", "light_state")}
    again = _backfill(small_pack_dir, filled)
    assert again == 0 and {m: _rows(filled, m) for m in counts} == counts  # idempotent
    asyncio.run(_check(filled, small_pack_dir))
    # rows are fields: tti, los, congested and incident for tfc-1 every minute, tfc-2
    # every other
    assert counts["traffic_state"] == 4 * (2880 + 1440)
    assert counts["light_state"] == 2 * 2880  # fault and sun_elevation per reading


async def _check(filled: Path, small_pack_dir: Path) -> None:  # noqa: F811
    store = SQLiteStore(filled)
    try:
        async def at(measurement: str, device: str, field: str, hour: int) -> float:
            t = (MONDAY + hour * 3600) * NS
            [(when, value)] = await store.history(measurement=measurement, device=device,
                                                  field=field, start_ns=t, stop_ns=t + 1,
                                                  city=filled_city(small_pack_dir))
            assert when == t  # the reading's own time
            return value

        # tfc-1: 8 km/h at Monday 08:00 on a 50 km/h street: TTI 50/8
        assert await at("traffic_state", "tfc-1", "tti", 8) == 50 / 8
        assert await at("traffic_state", "tfc-1", "tti", 7) == 50 / 48
        # river-1 at 2.5 m: Siaga II (levels 1.0 / 2.0 / 3.0); at 0.5 m: IV
        assert await at("flood_state", "river-1", "siaga", 2) == 2.0
        assert await at("flood_state", "river-1", "siaga", 12) == 4.0
        latest = {p.device: p for p in await store.latest(city=filled_city(small_pack_dir))
                  if p.measurement == "traffic_state"}
        assert latest["tfc-1"].fields["los"] == "A"  # 48 km/h at the end
        assert latest["tfc-1"].fields["congested"] is False
    finally:
        await store.aclose()


def filled_city(pack_dir: Path) -> str:
    from cityhub.config import load_pack

    return load_pack(pack_dir).city.id
