"""The dashboards' reads through CityData, on SQLite and on the real InfluxDB: the newest
point per device (and per derived series), one device's series, several devices' window
means, and the sensor page's downsampled series."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cityhub.config.pack import CityPack
from cityhub.point import Point
from cityhub.store import SQLiteStore, Store
from dashboards.data import CityData
from stores import InfluxV1Store

NS = 10**9


@pytest.fixture(params=["sqlite", "influxdb"])
def data(request: pytest.FixtureRequest, small_pack: CityPack, tmp_path: Path
         ) -> Iterator[CityData]:
    if request.param == "sqlite":
        async def open_store() -> Store:
            return SQLiteStore(tmp_path / "r.db")
    else:
        influx: Any = request.getfixturevalue("influxdb")
        database = request.getfixturevalue("database")

        async def open_store() -> Store:
            return InfluxV1Store(influx.url, database)
    d = CityData(small_pack, open_store, cache_s=0)
    yield d
    d.close()


def pt(pack: CityPack, device: str, meas: str, t_ns: int, **fields: object) -> Point:
    return Point(meas, tuple(sorted(pack.tags_of(device).items())), fields, t_ns)  # type: ignore[arg-type]


def test_reads_for_the_pages(data: CityData, small_pack: CityPack) -> None:
    t0 = (int(time.time()) - 3600) * NS
    river = [pt(small_pack, "river-1", "flood", t0 + i * 60 * NS, currentLevel=1.0 + i / 100)
             for i in range(60)]
    derived = [pt(small_pack, "river-1", "flood_state", t0 + i * 60 * NS, siaga=4.0)
               for i in range(60)]
    roads = [pt(small_pack, dev, "traffic", t0 + i * 60 * NS, averageVehicleSpeed=float(v),
                intensity=10.0) for i in range(60) for dev, v in (("tfc-1", 30), ("tfc-2", 50))]
    data.with_store(lambda s: s.write([*river, *derived, *roads]))

    latest = {(r.device, r.measurement): r for r in data.latest()}
    assert latest[("river-1", "flood")].fields == {"currentLevel": 1.0 + 59 / 100}
    assert latest[("river-1", "flood_state")].fields == {"siaga": 4.0}
    assert latest[("tfc-2", "traffic")].time_ns == t0 + 59 * 60 * NS
    assert {r.measurement for r in data.device_latest("river-1")} == {"flood", "flood_state"}

    both = data.device_history(device="river-1", series=[("flood", "currentLevel"),
                                                         ("flood_state", "siaga")],
                               start_ns=t0, stop_ns=t0 + 3600 * NS)
    assert len(both[("flood", "currentLevel")]) == 60
    assert both[("flood", "currentLevel")][0] == (t0, 1.0)
    assert {v for _, v in both[("flood_state", "siaga")]} == {4.0}

    means = data.histories(measurement="traffic", devices=["tfc-1", "tfc-2", "tfc-b1"],
                           field="averageVehicleSpeed", start_ns=t0,
                           stop_ns=t0 + 3600 * NS, window_s=3600)
    assert means["tfc-1"] and all(v == pytest.approx(30.0) for _, v in means["tfc-1"])
    assert all(v == pytest.approx(50.0) for _, v in means["tfc-2"])
    assert means["tfc-b1"] == []

    _, gauge = small_pack.sensors["river-1"]
    series = {s.spec.field: s for s in data.sensor_series(gauge, t0, t0 + 3600 * NS)}
    level = series["currentLevel"]
    assert level.read == 60 and len(level.t) == 60  # raw: few enough to draw them all
    assert float(level.v.min()) == pytest.approx(1.0)
    assert float(level.v.max()) == pytest.approx(1.59)
    assert series["siaga"].read == 60


def test_a_store_that_does_not_answer_keeps_the_pages_going(small_pack: CityPack,
                                                             tmp_path: Path) -> None:
    """Nothing listening where InfluxDB should be: no rows, the reason kept and counted,
    and asked again after cache_s (not at every page)."""
    from devservices import free_port

    async def open_store() -> Store:
        return InfluxV1Store(f"http://127.0.0.1:{free_port()}", "cityhub")

    clock = [1000.0]
    d = CityData(small_pack, open_store, cache_s=5, clock=lambda: clock[0])
    try:
        assert d.latest() == []
        assert d.store_error is not None and "127.0.0.1" in d.store_error
        assert d.read_errors == 1
        assert d.latest() == [] and d.read_errors == 1  # within cache_s: not asked again
        clock[0] += 6
        assert d.latest() == [] and d.read_errors == 2
    finally:
        d.close()


class Flaky:
    """The real SQLite store, made to fail on demand (the reads' failure handling is
    what is under test)."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner, self.down = inner, False
        self.line_protocol = inner.line_protocol

    async def latest(self, *, city: str, since_ns: int | None = None) -> Any:
        if self.down:
            from cityhub.errors import SinkError
            raise SinkError("store down for the test", retryable=True)
        return await self.inner.latest(city=city, since_ns=since_ns)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_the_last_values_read_stay_while_the_store_is_down(small_pack: CityPack,
                                                           tmp_path: Path) -> None:
    from tests.dashboards.conftest import points

    flaky = Flaky(SQLiteStore(tmp_path / "r.db"))
    flaky.inner.write_sync(points(small_pack, speed=45.0, level=0.5))

    async def open_store() -> Any:
        return flaky

    d = CityData(small_pack, open_store, cache_s=0)
    try:
        before = d.latest()
        assert len(before) == 5 and d.store_error is None
        flaky.down = True
        assert d.latest() == before and d.store_error == "store down for the test"
        flaky.down = False
        assert len(d.latest()) == 5 and d.store_error is None and d.read_errors == 1
    finally:
        d.close()
