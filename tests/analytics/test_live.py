"""The streaming engine (analytics/live) on a stream whose episodes are known by
construction (tests/analytics/stream.py): the events it makes, and that batching, redelivery
and a checkpoint in the middle change nothing."""

from __future__ import annotations

import datetime as dt
import math
import random
import time
from pathlib import Path

import numpy as np
import pytest

from analytics.live.checkpoint import StateDir
from analytics.live.engine import Engine
from analytics.live.events import Event, event_id, iso
from analytics.settings import DetectionSettings
from cityhub.config import load_pack
from cityhub.config.lighting import DimmingStep, LightingPolicy
from cityhub.config.pack import CityPack
from cityhub.contract import decode_telemetry
from cityhub.point import Point
from cityhub.senml import Reading
from tests.analytics.stream import STEP, T0, add_river, messages
from tests.conftest import write_small_pack

Result = tuple[list[Point], list[Event]]


@pytest.fixture
def pack(tmp_path: Path) -> CityPack:
    root = write_small_pack(tmp_path / "pack", "testcity")
    add_river(root)
    return load_pack(root)


def batches(pack: CityPack, size: int, minutes: int = 720) -> list[list[Reading]]:
    """The stream's readings, ``size`` messages a batch."""
    out: list[list[Reading]] = [[]]
    for k, (topic, payload) in enumerate(messages(pack.city.id, minutes)):
        if k and k % size == 0:
            out.append([])
        out[-1] += decode_telemetry(pack, topic, payload, now_ns=time.time_ns(),
                                    max_future_ns=10**18)[1]
    return out


def run(engine: Engine, parts: list[list[Reading]]) -> Result:
    points: list[Point] = []
    events: list[Event] = []
    for readings in parts:
        p, e = engine.process(readings)
        points += p
        events += e
    return points, events


def canonical(result: Result) -> tuple[list[Point], list[Event]]:
    """Points and events in one order (a batch's come domain by domain)."""
    points, events = result
    return (sorted(points, key=lambda p: (p.measurement, p.tags, p.time_ns)),
            sorted(events, key=lambda e: (e.id, e.phase)))


def iso_ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp()) * 10**9


def at(minute: float) -> str:
    return iso(int((T0 + minute * STEP) * 1e9))


def closed(events: list[Event], kind: str) -> list[tuple[str, str, str | None]]:
    return [(e.device, e.start, e.end) for e in events if e.kind == kind and e.end]


def test_the_stream_gives_its_known_episodes(pack: CityPack) -> None:
    unsmoothed = DetectionSettings(congestion_smoothing=1.0)
    _, events = run(Engine(pack, unsmoothed), batches(pack, 40))
    # tfc-1 crawls at 20-22 km/h (TTI >= 2.2 against 50 free flow) in minutes 100-159
    # and 400-429, and runs at 45+ (TTI <= 1.11) otherwise
    assert closed(events, "congestion") == [("tfc-1", at(100), at(160)),
                                            ("tfc-1", at(400), at(430))]
    # tfc-2 reads exactly 40.0 in minutes 200-259: stuck from its first such reading,
    # reported once ten of them came in
    assert closed(events, "stuck") == [("tfc-2", at(200), at(260))]
    # 25+ mm/h (BMKG very heavy) in minutes 50-79; held 10 minutes before it is told
    assert closed(events, "heavy_rain") == [("rain-1", at(50), at(80))]
    assert closed(events, "day_burning") == [("lamp-1", at(300), at(360))]
    [(device, start, end)] = closed(events, "lamp_out")
    assert device == "lamp-1" and end == at(700) and at(660) <= start < at(680)
    # The river: 0.6 + 1.7 max(0, sin(2 pi m / 360)) (+ <= 3 mm): Siaga III at 1.0 m and
    # II at 2.0 m, crossed up and down in each of its two humps
    def first(cond: object, lo: int, hi: int) -> int:
        return next(m for m in range(lo, hi) if cond(m))  # type: ignore[operator]

    def level(m: int) -> float:
        return 0.6 + 1.7 * max(0.0, math.sin(2 * math.pi * m / 360)) + (m % 3) * 0.001

    ups3 = [first(lambda m: level(m) >= 1.0, lo, lo + 180) for lo in (0, 360)]
    ups2 = [first(lambda m: level(m) >= 2.0, lo, lo + 180) for lo in (0, 360)]
    changes = [(e.detail["from"], e.detail["to"], e.start) for e in events
               if e.kind == "siaga_change"]
    assert [(4, 3, at(ups3[0])), (3, 2, at(ups2[0]))] == changes[:2]
    assert [c[:2] for c in changes] == [(4, 3), (3, 2), (2, 3), (3, 4)] * 2
    etas = [e for e in events if e.kind == "flood_eta"]
    assert [e.start for e in etas] == [at(ups3[0]), at(ups2[0]), at(ups3[1]), at(ups2[1])]
    assert etas[1].detail["expected_from"] == at(ups2[0] + 60)  # travel 1 to 3 hours
    assert etas[1].detail["expected_to"] == at(ups2[0] + 180)
    assert etas[1].severity == "warning" and etas[1].detail["downstream"] == "downtown"


def test_congestion_is_decided_on_the_smoothed_speed(pack: CityPack) -> None:
    """One slow reading among fast ones makes no congestion; a sustained crawl does,
    after the smoothed speed (weight 0.25 a reading) falls under 50 / 1.6 = 31.25 km/h:
    45 -> 21 km/h readings give 39, 34.5, 31.1 -> the third one."""
    engine = Engine(pack, DetectionSettings())
    speeds = [45.0] * 5 + [21.0] + [45.0] * 5 + [21.0] * 6
    readings = [Reading("tfc-1", "averageVehicleSpeed", v, (T0 + 60 * k) * 10**9)
                for k, v in enumerate(speeds)]
    _, events = engine.process(readings)
    assert [(e.kind, e.start) for e in events] == [("congestion", at(13))]


def test_each_episode_opens_and_closes_once_under_one_id(pack: CityPack) -> None:
    _, events = run(Engine(pack, DetectionSettings()), batches(pack, 40))
    keys = [(e.id, e.phase) for e in events]
    assert len(keys) == len(set(keys))
    opened = {e.id: e for e in events if e.end is None}
    for e in events:
        if e.id in opened:
            o = opened[e.id]
            assert (o.kind, o.device, o.start) == (e.kind, e.device, e.start)
    c = next(e for e in events if e.kind == "congestion")
    start_ns = int(iso_ns(c.start))
    assert c.id == event_id("testcity", "traffic", "congestion", "tfc-1", start_ns)
    assert at(100) < c.start < at(110)  # smoothed: a few readings into the crawl
    assert c.topic == "city/testcity/events/traffic/congestion"
    assert {c.gateway, c.district} == {"gw-a", "north"}


@pytest.mark.parametrize("size", [1, 7, 10_000])
def test_batching_changes_nothing(pack: CityPack, size: int) -> None:
    want = run(Engine(pack, DetectionSettings()), batches(pack, 40))
    got = run(Engine(pack, DetectionSettings()), batches(pack, size))
    assert canonical(got) == canonical(want)


def test_redelivered_and_late_readings_never_count_twice(pack: CityPack) -> None:
    engine = Engine(pack, DetectionSettings())
    parts = batches(pack, 40)
    run(engine, parts)
    rng = random.Random(3)
    again = [r for part in rng.sample(parts, 10) for r in part]
    rng.shuffle(again)
    assert engine.process(again) == ([], [])
    assert engine.late == len({(r.device, r.time_ns) for r in again})


@pytest.mark.parametrize("cut", [2, 12, 33])  # batches of 40 messages: 10 minutes each
def test_a_checkpoint_resumes_where_it_left_off(pack: CityPack, tmp_path: Path,
                                                cut: int) -> None:
    """Through a checkpoint on disk (at minute ``cut * 10``: 20 is before any episode,
    120 mid-congestion, 330 mid-day-burning) the second engine continues the first's
    series and episodes exactly."""
    parts = batches(pack, 40)
    whole = run(Engine(pack, DetectionSettings()), parts)
    first = Engine(pack, DetectionSettings())
    a = run(first, parts[:cut])
    state = StateDir(tmp_path / "state")
    state.save(first.state())
    second = Engine(pack, DetectionSettings())
    loaded = state.load()
    assert loaded is not None
    second.restore(loaded)
    b = run(second, parts[cut:])
    assert canonical((a[0] + b[0], a[1] + b[1])) == canonical(whole)
    state.close()


def test_a_pack_that_changed_keeps_the_state_of_the_sensors_it_kept(
        pack: CityPack, tmp_path: Path) -> None:
    engine = Engine(pack, DetectionSettings())
    run(engine, batches(pack, 40, minutes=120))
    root = tmp_path / "pack"
    (root / "gateways" / "gw-b.yaml").unlink()  # tfc-b1 gone
    smaller = load_pack(root)
    other = Engine(smaller, DetectionSettings())
    other.restore(engine.state())
    new, old = other.domains, engine.domains
    for domain, dom in new.items():
        for k, name in enumerate(dom.numbering.names):
            j = old[domain].numbering.index[name]
            assert dom.last_t[k] == old[domain].last_t[j]
    assert [e.id for e in other.episodes] == [e.id for e in engine.episodes]


def test_a_state_of_another_shape_is_refused(pack: CityPack) -> None:
    engine = Engine(pack, DetectionSettings())
    state = engine.state()
    state["traffic/traffic.speed_sums"] = np.zeros((6, 168, 3))
    with pytest.raises(ValueError, match="speed_sums"):
        Engine(pack, DetectionSettings()).restore(state)


def test_the_journal_keeps_what_was_published_until_the_next_checkpoint(
        tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.journal([("a1", "open"), ("b2", "closed")])
    with open(state.journal_file, "a") as f:
        f.write("c3 op")  # torn by a crash mid-write
    again = StateDir(tmp_path)
    assert again.published() == {("a1", "open"), ("b2", "closed")}
    again.journal([("d4", "open")])  # after the torn line, on a line of its own
    assert again.published() == {("a1", "open"), ("b2", "closed"), ("d4", "open")}
    again.close()
    state.save({"x": np.arange(3)})
    assert StateDir(tmp_path).published() == set()
    state.close()


async def test_the_backfill_derives_what_the_stream_derived(pack: CityPack,
                                                            tmp_path: Path) -> None:
    """The stream's readings stored, then backfilled: the same derived points as the
    streaming engine made live (one code path)."""
    from analytics.backfill import backfill
    from cityhub.point import points_from_readings
    from cityhub.store import SQLiteStore

    parts = batches(pack, 40)
    want, _ = run(Engine(pack, DetectionSettings()), parts)
    store = SQLiteStore(tmp_path / "readings.db")
    try:
        every = [r for part in parts for r in part]
        for domain in ("traffic", "flood", "lighting", "rain"):
            await store.write(points_from_readings(
                domain, [r for r in every if pack.sensors[r.device][1].domain == domain],
                pack.tags_of))
        start = dt.datetime.fromtimestamp(T0, dt.UTC)
        n = await backfill(pack, store, start, start + dt.timedelta(days=1))
        assert n == len(want)
        got = []
        for p in want[::7]:  # the numeric fields of every 7th point (history's kind)
            device = dict(p.tags)["device"]
            for name, value in p.fields.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    continue
                [(t, v)] = await store.history(measurement=p.measurement, device=device,
                                               field=name, start_ns=p.time_ns,
                                               stop_ns=p.time_ns + 1, city=pack.city.id)
                got.append((t, v) == (p.time_ns, float(value)))
        assert len(got) > 500 and all(got)
        latest = {(p.measurement, p.device): p.fields
                  for p in await store.latest(city=pack.city.id)}
        last = {(p.measurement, dict(p.tags)["device"]): p.fields for p in want}
        assert all(latest[k] == v for k, v in last.items())
    finally:
        await store.aclose()


def _rush(pack: CityPack, slow: set[str], *, frozen: bool = False,
          params: DetectionSettings | None = None) -> list[Event]:
    """Two ordinary weeks of Monday 08:00-09:00 on the three roads, then a third in which
    the roads in ``slow`` crawl from 08:20 (speed down to 40 %, occupancy up), or
    (``frozen``) repeat one crawling reading from 08:00."""
    monday_8 = 1767571200 + 3600  # 2026-01-05 08:00 WIB
    engine = Engine(pack, params or DetectionSettings())
    events: list[Event] = []
    for week in range(3):
        for m in range(60):
            t = monday_8 + week * 7 * 86400 + 60 * m
            rows = []
            for k, road in enumerate(("tfc-1", "tfc-2", "tfc-b1")):
                crawl = week == 2 and m >= 20 and road in slow
                speed = 45.0 + 0.4 * week + 0.3 * ((m + k) % 3)
                occ = 0.2 + 0.01 * week + 0.005 * ((m + k) % 2)
                if frozen and week == 2 and road in slow:
                    crawl, speed, occ = True, 45.0, 0.2
                rows += [Reading(road, "averageVehicleSpeed", speed * (0.4 if crawl else 1),
                                 t * 10**9),
                         Reading(road, "occupancy", occ * (2.5 if crawl else 1), t * 10**9)]
            events += engine.process(rows)[1]
    return [e for e in events if e.kind == "incident"]


def test_an_incident_is_local_a_city_wide_slowdown_is_not(pack: CityPack) -> None:
    """The same crawl on one road of three is an incident (from its first slow reading,
    told five minutes on); on all three at once (rain, a holiday) it is not: each road is
    judged against the city's median speed ratio."""
    [one] = _rush(pack, {"tfc-1"})
    assert (one.device, one.end) == ("tfc-1", None)
    assert one.start == iso((1767571200 + 3600 + 14 * 86400 + 20 * 60) * 10**9)
    assert one.detail["neighbours_speed_ratio"] > 0.9
    assert _rush(pack, {"tfc-1", "tfc-2", "tfc-b1"}) == []


def test_a_stuck_sensor_raises_no_incident(pack: CityPack) -> None:
    """A sensor that repeats one crawling reading is stuck, not in an incident: once the
    quality detector calls it stuck (10 readings), the incident rule leaves it alone.
    (With a hold longer than that, so the stuck flag comes first; without the stuck rule
    the same readings make an incident.)"""
    late = DetectionSettings(incident_hold_s=900)
    assert _rush(pack, {"tfc-1"}, frozen=True, params=late) == []
    never_stuck = DetectionSettings(incident_hold_s=900, stuck_min_run=1000)
    [e] = _rush(pack, {"tfc-1"}, frozen=True, params=never_stuck)
    assert e.device == "tfc-1"


def test_a_lamp_off_its_dimming_schedule(pack: CityPack) -> None:
    """The pack dims lamps to 60 % from midnight: a lamp that stays at full output is off
    schedule from 00:00 (told after the ten-minute hold) until it dims; one that follows
    the schedule is not."""
    policy = LightingPolicy(dimming=(DimmingStep(start="00:00", end="05:00", level=0.6),))
    dimmed = pack.model_copy(update={"lighting": policy})
    midnight = 1_793_552_400  # 2026-11-02 00:00 WIB

    def night(levels: list[float]) -> tuple[list[Point], list[Event]]:
        engine = Engine(dimmed, DetectionSettings())
        rows = []
        for k, level in enumerate(levels):  # every 5 minutes from 23:00
            t = (midnight - 3600 + 300 * k) * 10**9
            rows += [Reading("lamp-1", "activePower", 90.0 * level, t),
                     Reading("lamp-1", "illuminanceLevel", level, t)]
        return engine.process(rows)

    # 23:00-23:55 full; 00:00-00:55 still full (wrong); 01:00-01:55 dimmed
    points, events = night([1.0] * 12 + [1.0] * 12 + [0.6] * 12)
    dim = [e for e in events if e.kind == "dimming"]
    assert [(e.start, e.end) for e in dim] == [
        (iso(midnight * 10**9), None),
        (iso(midnight * 10**9), iso((midnight + 3600) * 10**9))]
    assert dim[0].detail["scheduled_level"] == 0.6 and dim[0].detail["level"] == 1.0
    flags = [p.fields.get("on_schedule") for p in points if p.measurement == "light_state"]
    assert flags == [True] * 12 + [False] * 12 + [True] * 12
    _, events = night([1.0] * 12 + [0.6] * 24)
    assert [e for e in events if e.kind == "dimming"] == []


def test_the_inbox_log_keeps_whole_records_until_the_next_checkpoint(
        tmp_path: Path) -> None:
    """What is logged comes back in order; a record torn by a crash mid-append (never
    acknowledged: the broker sends it again) is cut off; a checkpoint empties the log."""
    state = StateDir(tmp_path)
    state.log([("city/x/traffic/gw-a", b'[{"n":"v"}]'), ("city/x/flood/gw-b", b"[]")])
    state.close()
    with open(tmp_path / "inbox.log", "ab") as f:
        f.write(b"\x00\x00\x00\x05\x00\x00\x01\x00city/")  # a torn record
    again = StateDir(tmp_path)
    assert again.logged() == [("city/x/traffic/gw-a", b'[{"n":"v"}]'),
                              ("city/x/flood/gw-b", b"[]")]
    again.log([("city/x/rain/gw-c", b"[1]")])  # after the cut, whole
    assert [t for t, _ in again.logged()] == ["city/x/traffic/gw-a", "city/x/flood/gw-b",
                                              "city/x/rain/gw-c"]
    again.save({"x": np.arange(2)})
    assert again.logged() == [] and again.inbox_bytes == 0
    again.close()


RAIN_GATEWAY = """\
id: gw-b
district: south
location: {lat: -6.91, lon: 107.60}
sensors:
  - {id: tfc-b1, domain: traffic, location: {lat: -6.911, lon: 107.601}}
  - {id: rain-b1, domain: rain, location: {lat: -6.912, lon: 107.602}}
  - {id: rain-b2, domain: rain, location: {lat: -6.913, lon: 107.603}}
  - {id: rain-b3, domain: rain, location: {lat: -6.914, lon: 107.604}}
"""


def test_a_rain_gauge_wet_while_its_neighbours_are_dry_has_drifted(tmp_path: Path) -> None:
    """rain-1 reads 0.3 mm/h from 01:00 while the city's three other gauges read 0: a
    drift from 01:00, told two hours on, over when it reads dry at 04:00. The same
    reading while every gauge has rain is no drift."""
    root = write_small_pack(tmp_path / "rainy", "raincity", gateways={"gw-b": RAIN_GATEWAY})
    pack = load_pack(root)

    def run_rain(others: float) -> list[Event]:
        engine = Engine(pack, DetectionSettings())
        events: list[Event] = []
        for m in range(300):
            t = (T0 + 60 * m) * 10**9
            own = 0.3 if 60 <= m < 240 else 0.0
            rows = [Reading("rain-1", "rainRate", own, t)]
            rows += [Reading(g, "rainRate", others, t) for g in ("rain-b1", "rain-b2",
                                                                  "rain-b3")]
            events += [e for e in engine.process(rows)[1] if e.kind == "drift"]
        return events

    drift = run_rain(0.0)
    assert [(e.device, e.start, e.end) for e in drift] == [
        ("rain-1", at(60), None), ("rain-1", at(60), at(240))]
    assert drift[0].detail["neighbours_mm_h"] == 0.0
    assert run_rain(2.0) == []


ROADS = """\
id: gw-b
district: south
location: {lat: -6.91, lon: 107.60}
sensors:
""" + "".join(f"  - {{id: {r}, domain: traffic, location: {{lat: -6.91, lon: 107.6}}}}\n"
              for r in ("tfc-a1", "tfc-a2", "tfc-a3", "tfc-b1", "tfc-b2", "tfc-b3", "tfc-b4"))


def test_a_road_is_judged_against_its_corridor(tmp_path: Path) -> None:
    """Four roads of the city crawl (a storm on their side of town) while on corridor A
    only tfc-a1 does: against the city's median it looks like the rest, so no incident;
    with corridor A in the pack, its neighbours on the same road keep moving: an
    incident."""
    root = write_small_pack(tmp_path / "roads", "roadtown")
    (root / "gateways" / "gw-b.yaml").write_text(ROADS)
    (root / "gateways" / "gw-a.yaml").unlink()
    monday_8 = 1767571200 + 3600  # 2026-01-05 08:00 WIB

    def incidents() -> list[Event]:
        pack = load_pack(root)
        engine = Engine(pack, DetectionSettings())
        events: list[Event] = []
        for week in range(3):
            for m in range(60):
                t = (monday_8 + week * 7 * 86400 + 60 * m) * 10**9
                rows = []
                for k, road in enumerate(("tfc-a1", "tfc-a2", "tfc-a3", "tfc-b1", "tfc-b2",
                                          "tfc-b3", "tfc-b4")):
                    crawl = week == 2 and m >= 20 and road in {"tfc-a1", "tfc-b1", "tfc-b2",
                                                               "tfc-b3", "tfc-b4"}
                    speed = 45.0 + 0.4 * week + 0.3 * ((m + k) % 3)
                    occ = 0.2 + 0.01 * week + 0.005 * ((m + k) % 2)
                    rows += [Reading(road, "averageVehicleSpeed",
                                     speed * (0.4 if crawl else 1), t),
                             Reading(road, "occupancy", occ * (2.5 if crawl else 1), t)]
                events += [e for e in engine.process(rows)[1] if e.kind == "incident"]
        return events

    assert incidents() == []
    city = root / "city.yaml"
    city.write_text(city.read_text() + (
        "corridors:\n  - {id: road-a, name: Road A, sensors: [tfc-a1, tfc-a2, tfc-a3]}\n"))
    [one] = [e for e in incidents() if e.end is None]
    assert one.device == "tfc-a1" and one.detail["neighbours_speed_ratio"] > 0.9


def test_an_unusual_flow_for_half_an_hour_is_an_anomaly(pack: CityPack) -> None:
    """Two weeks of about 20 vehicles a minute on Monday 08:00-10:00, then 50 from 08:10
    (a stadium emptying): an anomaly from 08:10, told half an hour on, over when the flow
    is back; a 30 % rise is not one."""
    monday_8 = 1767571200 + 3600  # 2026-01-05 08:00 WIB

    def run_flow(surge: float) -> list[Event]:
        engine = Engine(pack, DetectionSettings())
        events: list[Event] = []
        for week in range(3):
            for m in range(120):
                t = (monday_8 + week * 7 * 86400 + 60 * m) * 10**9
                flow = 20.0 + 0.3 * week + 0.5 * (m % 3)
                if week == 2 and 10 <= m < 70:
                    flow *= surge
                rows = [Reading("tfc-1", "intensity", flow, t),
                        Reading("tfc-1", "averageVehicleSpeed", 45.0 + 0.2 * (m % 4), t)]
                events += [e for e in engine.process(rows)[1] if e.kind == "anomaly"]
        return events

    events = run_flow(2.5)
    week_3 = monday_8 + 14 * 86400
    start, end = iso((week_3 + 600) * 10**9), iso((week_3 + 70 * 60) * 10**9)
    assert [(e.start, e.end) for e in events] == [(start, None), (start, end)]
    assert events[0].detail["flow_per_min"] > 2 * events[0].detail["normal_flow_per_min"]
    assert run_flow(1.3) == []
