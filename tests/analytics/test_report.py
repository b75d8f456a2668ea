"""``cityhub analytics report`` on a SQLite store filled with a known two days: every
figure of the CSV files is worked out by hand, and the HTML page opens offline."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from cityhub.cli import main
from cityhub.config.pack import CityPack, LightingSensor
from cityhub.point import Point
from cityhub.solar import sun_elevation
from cityhub.store import SQLiteStore

MONDAY = 1767546000  # 2026-01-05 00:00 WIB (UTC+7)
HOUR = 3600


def _points(pack: CityPack) -> list[Point]:
    out = []

    def point(device: str, domain: str, t: int, **fields: float) -> None:
        tags = tuple(sorted(pack.tags_of(device).items()))
        out.append(Point(domain, tags, fields, t * 10**9))

    for k in range(2 * 24 * 60):  # two days, a reading a minute
        t = MONDAY + 60 * k
        hour = k // 60
        # tfc-1 (district north): standstill Monday 08:00-10:00, else free flow
        point("tfc-1", "traffic", t, averageVehicleSpeed=8.0 if hour in (8, 9) else 48.0)
        if k % 2 == 0:  # tfc-2 (south) reports only every other minute
            point("tfc-2", "traffic", t, averageVehicleSpeed=45.0)
        # river-1: Siaga II (2.0 <= level < 3.0) from 01:00 to 04:00 Monday, else IV
        point("river-1", "flood", t, currentLevel=2.5 if 1 <= hour < 4 else 0.5)
        # rain-1: 0.5 mm a minute during Tuesday's 15:00 hour
        point("rain-1", "rain", t, precipitation=0.5 if hour == 24 + 15 else 0.0)
        # lamp-1: on (90 W) all day Tuesday 10:00-12:00 local (burning by day), else off
        point("lamp-1", "lighting", t, activePower=90.0 if hour in (34, 35) else 0.0)
    return out


@pytest.fixture
async def filled(small_pack: CityPack, tmp_path: Path) -> Path:
    db = tmp_path / "readings.db"
    store = SQLiteStore(db)
    await store.write(_points(small_pack))
    await store.aclose()
    return db


def small_pack_lamp(pack_dir: Path) -> LightingSensor:
    from cityhub.config import load_pack

    _, lamp = load_pack(pack_dir).sensors["lamp-1"]
    assert isinstance(lamp, LightingSensor)
    return lamp


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_a_report_worked_out_by_hand(filled: Path, small_pack_dir: Path,
                                     tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert main(["analytics", "report", "--city", str(small_pack_dir), "--sqlite",
                 str(filled), "--from", "2026-01-05", "--to", "2026-01-07",
                 "--out", str(out)]) == 0
    congestion = {(r["district"], r["weekday"], int(r["hour"])): float(r["hours"])
                  for r in _csv(out / "congestion_hours.csv")}
    assert congestion[("north", "Mon", 8)] == 1.0 and congestion[("north", "Mon", 9)] == 1.0
    assert sum(congestion.values()) == 2.0
    flood = {(r["district"], int(r["siaga"])): float(r["hours"])
             for r in _csv(out / "flood_hours.csv")}
    assert flood == {("north", 4): 45.0, ("north", 3): 0.0, ("north", 2): 3.0,
                     ("north", 1): 0.0}
    assert _csv(out / "rain.csv") == [{"district": "north", "mm": "30.0"}]
    [lamps] = _csv(out / "lighting.csv")
    # two hours of 90 W by day (burning by day), and a lamp off all night (dark at night):
    # counted with the core's scalar sun rule, a 3 degree twilight margin, 10 % of 90 W
    lamp = small_pack_lamp(small_pack_dir)
    want = 0
    for k in range(2 * 24 * 60):
        t = MONDAY + 60 * k
        elev = sun_elevation(lamp.location.lat, lamp.location.lon, t)
        lit = k // 60 in (34, 35)
        want += (elev > -3 + 3 and lit) or (elev < -3 - 3 and not lit)
    assert lamps["district"] == "north" and int(lamps["lamp_readings"]) == 2880
    assert int(lamps["fault_readings"]) == want and want > 120
    assert float(lamps["energy_kwh"]) == pytest.approx(0.18, abs=0.002)
    completeness = {r["district"]: r for r in _csv(out / "completeness.csv")}
    assert completeness["north"]["completeness"] == "1.0"  # four sensors, every minute
    # south: tfc-2 every other minute, and gw-b's tfc-b1 never
    assert (int(completeness["south"]["expected"]), int(completeness["south"]["received"])
            ) == (2 * 2880, 1440)
    page = (out / "report.html").read_text()
    assert "Congestion hours" in page and "<script src=" not in page  # opens offline
    assert "Plotly" in page


def test_an_empty_period_is_a_clear_error(filled: Path, small_pack_dir: Path,
                                          tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analytics", "report", "--city", str(small_pack_dir), "--sqlite",
                 str(filled), "--from", "2026-01-07", "--to", "2026-01-05",
                 "--out", str(tmp_path / "r")]) == 2
    assert "--to: must come after --from" in capsys.readouterr().err
