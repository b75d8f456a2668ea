"""Each analytics kernel against its slow reference (tests/analytics/reference.py) on
random and adversarial inputs, plus known answers worked out by hand."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import analytics
from analytics import AnalyticsInputError
from analytics.live.levels import WindowMedian
from tests.analytics import reference as ref

SETTINGS = settings(max_examples=150, deadline=None)
NAN = math.nan
# readings as sensors send them: finite, sometimes missing (NaN), sometimes repeated
value = st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan), st.just(0.0),
                  st.just(1.0))
speeds = st.lists(st.one_of(st.floats(0, 200), st.just(math.nan)), max_size=60)


def same(a: object, b: object, tol: float = 1e-9) -> bool:
    return bool(np.allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                            rtol=tol, atol=tol, equal_nan=True))


@st.composite
def series(draw: st.DrawFn, max_size: int = 50) -> tuple[list[float], list[float]]:
    """Sorted times with repeats and huge gaps, and values with NaN and runs."""
    steps = draw(st.lists(st.one_of(st.just(0.0), st.floats(0.001, 600), st.just(1e7)),
                          max_size=max_size))
    t = list(np.cumsum([0.0, *steps]) + 1.7e9)
    y = draw(st.lists(value, min_size=len(t), max_size=len(t)))
    return t, y


# -- traffic ----------------------------------------------------------------------------

@SETTINGS
@given(speeds, st.floats(1, 150))
def test_tti_and_los_match_the_reference(speed: list[float], ff: float) -> None:
    assert same(analytics.travel_time_index(speed, ff), ref.tti(speed, [ff] * len(speed)))
    assert list(analytics.level_of_service(speed, ff)) == ref.los(speed, [ff] * len(speed))


def test_level_of_service_by_hand() -> None:
    """HCM bands on a 50 km/h street: a grade changes only past each bound."""
    table = {50: "A", 43: "A", 42.5: "B", 34: "B", 33.5: "C", 25.5: "C", 25: "D",
             20.5: "D", 20: "E", 15.5: "E", 15: "F", 0: "F"}
    codes = analytics.level_of_service(list(table), 50.0)
    assert [analytics.LOS_GRADES[c] for c in codes] == list(table.values())


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3), st.one_of(st.floats(0, 5), st.just(math.nan))),
                max_size=80))
def test_congestion_hysteresis_matches_the_reference(readings: list[tuple[int, float]]
                                                     ) -> None:
    dev = [d for d, _ in readings]
    x = [v for _, v in readings]
    state = np.zeros(4, dtype=bool)
    want_state = [False] * 4
    got = analytics.congestion(dev, x, state, on=1.6, off=1.3)
    assert list(got) == ref.hysteresis(dev, x, 1.6, 1.3, want_state)
    assert list(state) == want_state


def test_congestion_does_not_flap_around_one_threshold() -> None:
    state = np.zeros(1, dtype=bool)
    tti = [1.0, 1.65, 1.55, 1.62, 1.35, 1.29, 1.5]
    assert list(analytics.congestion([0] * 7, tti, state)) == [
        False, True, True, True, True, False, False]


# -- flood ------------------------------------------------------------------------------

@SETTINGS
@given(st.lists(value, max_size=60))
def test_siaga_matches_the_reference(level: list[float]) -> None:
    assert list(analytics.siaga(level, 0.8, 1.5, 2.0)) == ref.siaga(level, 0.8, 1.5, 2.0)


def test_siaga_katulampa() -> None:
    """Katulampa weir: IV < 80 cm, III 80-150, II 150-200, I > 200 (inclusive starts)."""
    levels = [0.5, 0.79, 0.8, 1.49, 1.5, 1.99, 2.0, 3.1, math.nan]
    assert list(analytics.siaga(levels, 0.8, 1.5, 2.0)) == [4, 4, 3, 3, 2, 2, 1, 1, 0]


@SETTINGS
@given(series(40), st.floats(1, 20000), st.integers(2, 5))
def test_rate_of_rise_matches_the_reference(s: tuple[list[float], list[float]],
                                            window: float, min_points: int) -> None:
    t, y = s
    got = analytics.rate_of_rise(t, y, window_s=window, min_points=min_points)
    assert same(got, ref.rate_of_rise(t, y, window, min_points), 1e-7)


def test_a_flood_whose_crossing_time_is_known() -> None:
    """0.1 m/h from 1.0 m, read every 10 min, one spike: Siaga II (1.5 m) 4 h after the
    1.1 m reading; the robust slope ignores the spike."""
    t = np.arange(0, 6 * 3600 + 1, 600.0) + 1.7e9
    level = 1.0 + (t - t[0]) / 3600 * 0.1
    level[8] += 5.0  # a spike (debris on the sensor)
    rise = analytics.rate_of_rise(t, level, window_s=7200)
    assert rise[12] == pytest.approx(0.1)
    eta = analytics.time_to_level(level, rise, 1.5)
    assert eta[6] == pytest.approx(4 * 3600)  # at 1.1 m
    assert eta[-1] == 0.0  # 1.6 m: past it already
    assert math.isnan(analytics.time_to_level([1.0], [-0.2], 1.5)[0])  # falling


# -- lighting ---------------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.floats(0, 4.1e9), max_size=40), st.floats(-89, 89), st.floats(-179, 179))
def test_sun_elevation_matches_the_scalar_rule(ts: list[float], lat: float, lon: float
                                               ) -> None:
    assert same(analytics.sun_elevation(lat, lon, ts), ref.sun(lat, lon, ts), 1e-7)


def test_sun_over_bandung_at_the_march_equinox() -> None:
    """Bandung (6.92° S, 107.61° E) on 2026-03-20, as NOAA's calculator gives it: solar
    noon about 11:57 WIB (04:57 UTC; the equation of time is about -7.5 min), the sun
    then about 83.1° high (90° - 6.92° at declination ~0); centre on the horizon about
    05:57 WIB."""
    day = 1773964800.0  # 2026-03-20 00:00 UTC
    ts = day - 7 * 3600 + np.arange(0, 86400, 60.0)  # that day in WIB, each minute
    elev = analytics.sun_elevation(-6.9175, 107.6191, ts)
    noon = ts[int(np.argmax(elev))]
    assert abs(noon - (day + 4 * 3600 + 57 * 60)) <= 180
    assert elev.max() == pytest.approx(83.1, abs=0.3)
    sunrise = ts[int(np.argmax(elev > 0))]
    assert abs(sunrise - (day - 7 * 3600 + 5 * 3600 + 57 * 60)) <= 240


@SETTINGS
@given(st.lists(st.tuples(st.floats(-90, 90), st.one_of(st.floats(0, 200), st.just(math.nan))),
                max_size=60))
def test_lamp_faults_match_the_reference(readings: list[tuple[float, float]]) -> None:
    elev = [e for e, _ in readings]
    power = [p for _, p in readings]
    got = analytics.lamp_faults(elev, power, 100.0, -3.0)
    assert list(got) == ref.faults(elev, power, 100.0, -3.0, 3.0, 0.1)


def test_lamp_faults_by_hand() -> None:
    elev = [40.0, 40.0, -20.0, -20.0, -1.0, -1.0]
    power = [95.0, 0.0, 95.0, 2.0, 0.0, 95.0]  # twilight: either is fine
    assert list(analytics.lamp_faults(elev, power, 100.0)) == [
        analytics.DAY_BURNING, 0, 0, analytics.DARK_AT_NIGHT, 0, 0]


@SETTINGS
@given(series(60), st.floats(1, 5000))
def test_energy_matches_the_reference(s: tuple[list[float], list[float]], gap: float) -> None:
    t, y = s
    p = [abs(v) for v in y]
    kwh, gaps = analytics.energy_kwh(t, p, max_gap_s=gap)
    want_kwh, want_gaps = ref.energy(t, p, gap)
    assert gaps == want_gaps
    assert kwh == pytest.approx(want_kwh, rel=1e-9, abs=1e-12)


def test_energy_by_hand() -> None:
    t = np.arange(0, 10 * 3600 + 1, 60.0)
    assert analytics.energy_kwh(t, np.full(t.size, 100.0)) == (pytest.approx(1.0), 0)
    # an hour missing is left out, not guessed
    t2 = np.concatenate([t[:61], t[120:]])  # 01:00 to 02:00 missing
    assert analytics.energy_kwh(t2, np.full(t2.size, 100.0)) == (pytest.approx(0.9), 1)
    # a missing reading: both intervals next to it are gaps, counted
    assert analytics.energy_kwh([0, 60, 120], [100, math.nan, 100]) == (0.0, 2)


# -- data quality -----------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.sampled_from([0.0, 1.0, 2.5, math.nan]), max_size=80),
       st.integers(2, 6))
def test_stuck_matches_the_reference(x: list[float], min_run: int) -> None:
    assert list(analytics.stuck(x, min_run=min_run)) == ref.stuck(x, min_run)


def test_gaps_and_range_by_hand() -> None:
    t = [0, 60, 120, 400, 460, 4000]
    assert list(analytics.gaps(t, 60)) == [0, 0, 0, 280, 0, 3540]
    assert list(analytics.out_of_range([-1, 0, 0.5, 1, 1.1, math.nan], 0, 1)) == [
        True, False, False, False, True, False]


# -- streaming state --------------------------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 4), st.floats(0, 1000), value), max_size=120),
       st.integers(1, 4))
def test_streaming_matches_the_reference_in_any_batching(
        readings: list[tuple[int, float, float]], batches: int) -> None:
    """However a stream is cut into micro-batches, the state and the scores are the same,
    and a late or redelivered reading never counts twice."""
    dev = [d for d, _, _ in readings]
    t = [x for _, x, _ in readings]
    v = [y for _, _, y in readings]
    want_z, want_rate, want_taken, want_means = ref.ewma(dev, t, v, 0.1, 5)
    state = analytics.StreamState(5, alpha=0.1)
    got_z: list[float] = []
    got_rate: list[float] = []
    got_taken: list[bool] = []
    got_means: list[float] = []
    for part in np.array_split(np.arange(len(readings)), batches):
        means = np.empty(len(part))
        z, rate, taken = state.update([dev[i] for i in part], [t[i] for i in part],
                                      [v[i] for i in part], means=means)
        got_z += list(z)
        got_rate += list(rate)
        got_taken += list(taken)
        got_means += list(means)
    assert got_taken == want_taken
    assert same(got_z, want_z, 1e-6) and same(got_rate, want_rate, 1e-9)
    assert same(got_means, want_means, 1e-9)
    assert int(state.count.sum()) == sum(want_taken)


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 5000),
                          st.one_of(st.floats(-100, 100), st.just(math.nan))), max_size=120),
       st.integers(1, 4), st.integers(1, 6))
def test_window_median_matches_the_reference_in_any_batching(
        readings: list[tuple[int, float, float]], batches: int, buckets: int) -> None:
    readings.sort(key=lambda r: r[1])  # the stream's order; redelivered ones come again
    readings += readings[: len(readings) // 3]
    dev = [d for d, _, _ in readings]
    t = [x for _, x, _ in readings]
    v = [y for _, _, y in readings]
    window = 600.0 * buckets
    want = ref.window_median(dev, t, v, 600.0, buckets, (buckets + 1) // 2)
    state = WindowMedian(3, window, buckets=buckets)
    got: list[float] = []
    for part in np.array_split(np.arange(len(readings)), batches):
        got += list(state.update([dev[i] for i in part], [t[i] for i in part],
                                 [v[i] for i in part]))
    assert np.allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_the_window_median_by_hand() -> None:
    """Three 10-minute buckets: 1, 1, then 5 (an incident) leave the median at 1; a
    fourth bucket at 5 moves it."""
    w = WindowMedian(1, 1800.0, buckets=3)
    t = [0, 600, 1200, 1800, 2400]
    assert list(w.update([0] * 5, t, [1.0, 1.0, 5.0, 5.0, 5.0]))[3:] == [1.0, 5.0]


def test_a_redelivered_batch_changes_nothing() -> None:
    state = analytics.StreamState(2)
    batch = ([0, 1, 0], [10.0, 10.0, 20.0], [1.0, 5.0, 3.0])
    state.update(*batch)
    before = {k: v.copy() for k, v in state.arrays().items()}
    _, _, taken = state.update(*batch)
    assert not taken.any()
    for k, v in state.arrays().items():
        assert np.array_equal(v, before[k], equal_nan=True), k


# -- LTTB -------------------------------------------------------------------------------

@SETTINGS
@given(series(200), st.integers(3, 40))
def test_lttb_matches_the_reference(s: tuple[list[float], list[float]], threshold: int
                                    ) -> None:
    t, y = s
    y = [0.0 if math.isnan(v) else v for v in y]
    assert list(analytics.lttb(t, y, threshold)) == ref.lttb(t, y, threshold)


def test_lttb_keeps_the_peak() -> None:
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 500)
    y[7777] = 50.0
    keep = analytics.lttb(x, y, 100)
    assert len(keep) == 100 and keep[0] == 0 and keep[-1] == 9999 and 7777 in keep
    assert list(keep) == sorted(keep)


# -- bad input --------------------------------------------------------------------------

@pytest.mark.parametrize(("call", "says"), [
    (lambda: analytics.rate_of_rise([2, 1], [1, 1]), "t: must be sorted"),
    (lambda: analytics.travel_time_index([10, 20], [50, 60, 70]), "one per reading"),
    (lambda: analytics.travel_time_index([[1.0]], 50), "1-D"),
    (lambda: analytics.level_of_service(["x"], 50), "not numbers"),
    (lambda: analytics.siaga([1.0], 2.0, 1.5, 3.0), "ascend"),
    (lambda: analytics.lamp_faults([1.0], [1.0, 2.0], 100), "different lengths"),
    (lambda: analytics.energy_kwh([0, 1], [1, math.inf]), "infinity"),
    (lambda: analytics.StreamState(2).update([2], [0.0], [1.0]), "0..1"),
    (lambda: analytics.congestion([0], [1.0], np.zeros(1, bool), on=1.0, off=1.2), "below"),
    (lambda: analytics.lttb([0, 1, 2], [0, 1, 2], 2), "at least 3"),
])
def test_bad_input_is_a_clear_error(call: object, says: str) -> None:
    with pytest.raises((AnalyticsInputError, ValueError), match=says):
        call()  # type: ignore[operator]


def test_empty_and_single_inputs() -> None:
    assert analytics.rate_of_rise([], []).size == 0
    assert math.isnan(analytics.rate_of_rise([1.0], [1.0])[0])
    assert analytics.energy_kwh([5.0], [100.0]) == (0.0, 0)
    assert list(analytics.stuck([3.0], min_run=2)) == [False]
    assert list(analytics.lttb([1.0], [2.0], 3)) == [0]
    z, _, taken = analytics.StreamState(1).update([], [], [])
    assert z.size == 0 and taken.size == 0


def test_parameters_per_reading_or_one_for_all() -> None:
    """Readings of several sensors in one call: a parameter per reading gives the same as
    one call per sensor with its own number."""
    level = [0.5, 1.6, 2.5, 0.5, 1.6, 2.5]
    s3 = [0.8, 0.8, 0.8, 0.4, 0.4, 0.4]  # two gauges; siaga_2 and siaga_1 shared
    assert list(analytics.siaga(level, s3, 1.5, 2.0)) == (
        list(analytics.siaga(level[:3], 0.8, 1.5, 2.0))
        + list(analytics.siaga(level[3:], 0.4, 1.5, 2.0)))
    speed = [40.0, 40.0]
    assert list(analytics.travel_time_index(speed, [50.0, 80.0])) == [1.25, 2.0]
    faults = analytics.lamp_faults([30.0, 30.0], [50.0, 50.0], [100.0, 1000.0])
    assert list(faults) == [analytics.DAY_BURNING, 0]  # 50 W is 'on' for a 100 W lamp only


# -- rain, completeness, seasonal baseline ---------------------------------------------

@SETTINGS
@given(st.lists(st.one_of(st.floats(0, 300), st.just(math.nan), st.sampled_from(
    [0.0, 5.0, 10.0, 20.0])), max_size=60))
def test_rain_classes_match_the_scalar_rule(rate: list[float]) -> None:
    assert list(analytics.rain_class(rate)) == ref.rain(rate, 10.0, 20.0)
    assert list(analytics.rain_class(rate, 12.0, 30.0)) == ref.rain(rate, 12.0, 30.0)


def test_rain_classes_by_hand() -> None:
    """BMKG hourly classes: light < 5 mm/h, moderate 5-10, heavy 10-20, very heavy >= 20."""
    codes = analytics.rain_class([0, 0.2, 4.9, 5, 9.9, 10, 19.9, 20, 80])
    assert [analytics.RAIN_CLASSES[c] for c in codes] == [
        "none", "light", "light", "moderate", "moderate", "heavy", "heavy", "very heavy",
        "very heavy"]


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 40)), max_size=100))
def test_seq_completeness_matches_the_reference(readings: list[tuple[int, int]]) -> None:
    g = [x for x, _ in readings]
    s = [y for _, y in readings]
    got = analytics.seq_completeness(g, s, 4)
    assert tuple(list(a) for a in got) == ref.seq_completeness(g, s, 4)


def test_seq_completeness_by_hand() -> None:
    got = analytics.seq_completeness([0, 0, 0, 0, 1], [7, 8, 8, 11, 3], 3)
    assert list(got.expected) == [5, 1, 0] and list(got.received) == [3, 1, 0]
    assert list(got.duplicates) == [1, 0, 0]
    assert got.completeness[0] == pytest.approx(0.6) and math.isnan(got.completeness[2])


WEEK = 7 * 86400.0


@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 30), st.integers(0, 3),
                          st.one_of(st.floats(-50, 50), st.just(math.nan)), st.booleans()),
                max_size=80), st.integers(1, 4), st.sampled_from([3600, 900]))
def test_seasonal_baseline_matches_the_reference(
        readings: list[tuple[int, int, int, float, bool]], batches: int, slot_s: int
        ) -> None:
    """Weeks of a few devices in a handful of slots of the week (hours or quarters), in
    time order per device, cut into any micro-batches; repeats and late readings are
    skipped; some readings scored but not learnt from."""
    dev = [r[0] for r in readings]
    t = [1.7e9 + r[1] * WEEK + r[2] * 1200.0 for r in readings]
    v = [r[3] for r in readings]
    learn = [r[4] for r in readings]
    want_score, want_taken = ref.seasonal(dev, t, v, 7 * 3600.0, 4, 2, slot_s, learn)
    base = analytics.SeasonalBaseline(3, utc_offset_s=7 * 3600.0, weeks=4, min_weeks=2,
                                      slot_s=slot_s)
    got_score: list[float] = []
    got_taken: list[bool] = []
    for part in np.array_split(np.arange(len(readings)), batches):
        score, _, taken = base.update([dev[i] for i in part], [t[i] for i in part],
                                      [v[i] for i in part], [learn[i] for i in part])
        got_score += list(score)
        got_taken += list(taken)
    assert got_taken == want_taken
    assert same(got_score, want_score, 1e-9)


def test_readings_not_learnt() -> None:
    """Three weeks of one slot: 10, then 50 not learnt, then 30: the fourth week is judged
    against 10 and 30 alone; the reading not learnt was scored all the same."""
    base = analytics.SeasonalBaseline(1, weeks=4, min_weeks=1)
    t = [1.7e9 + w * WEEK for w in range(4)]
    base.update([0], t[:1], [10.0])
    _, norm_2, taken = base.update([0], [t[1]], [50.0], [False])
    base.update([0], [t[2]], [30.0])
    _, norm_4, _ = base.update([0], [t[3]], [12.0])
    assert list(norm_2) == [10.0] and list(taken) == [True]
    assert list(norm_4) == [20.0]


def test_an_anomaly_against_its_hour_of_the_week() -> None:
    """Monday 08:00 is always busy, Sunday 08:00 quiet: the same 900 vehicles/h is normal
    on a Monday and an anomaly on a Sunday."""
    monday_8 = 1767571200.0 + 1 * 3600  # 2026-01-05 01:00 UTC = Monday 08:00 WIB
    sunday_8 = monday_8 - 86400
    base = analytics.SeasonalBaseline(1, utc_offset_s=7 * 3600.0)
    for w in range(6):  # six weeks of history
        base.update([0, 0], [sunday_8 + w * WEEK, monday_8 + w * WEEK],
                    [200.0 + 10 * (w % 3), 900.0 + 10 * (w % 3)])
    score, med, _ = base.update([0, 0], [sunday_8 + 6 * WEEK, monday_8 + 6 * WEEK],
                                [900.0, 900.0])
    assert list(med) == [210.0, 910.0]
    assert score[0] > 20 and abs(score[1]) < 2
    assert list(analytics.hour_of_week([monday_8, sunday_8], 7 * 3600.0)) == [8, 6 * 24 + 8]


# -- sustained conditions and incidents ------------------------------------------------

@SETTINGS
@given(st.lists(st.tuples(st.integers(0, 2), st.floats(0, 600), st.sampled_from(
    ["on", "off", "band"])), max_size=80), st.floats(0, 300), st.integers(1, 3))
def test_sustained_matches_the_reference(readings: list[tuple[int, float, str]],
                                         hold: float, batches: int) -> None:
    dev = [d for d, _, _ in readings]
    t = [1.7e9 + x for _, x, _ in readings]
    on = [c == "on" for _, _, c in readings]
    off = [c == "off" for _, _, c in readings]
    want = ref.sustained(dev, t, on, off, hold, 3)
    state = analytics.Sustained(3, hold_s=hold)
    got: tuple[list[bool], list[float], list[bool]] = ([], [], [])
    for part in np.array_split(np.arange(len(readings)), batches):
        a, s, k = state.update([dev[i] for i in part], [t[i] for i in part],
                               [on[i] for i in part], [off[i] for i in part])
        got[0].extend(a)
        got[1].extend(s)
        got[2].extend(k)
    assert got[0] == want[0] and got[2] == want[2]
    assert same(got[1], want[1])


def test_an_incident_needs_a_sustained_drop_of_speed_and_rise_of_occupancy() -> None:
    """Readings every minute: one slow minute is no incident; seven minutes of speed far
    below and occupancy far above their hour's normal are, from the first of them, until
    speed recovers."""
    t = 1.7e9 + 60.0 * np.arange(14)
    speed = [0, -4, 0, -4, -5, -4, -6, -5, -4, -4, -2, -1, 0, 0]  # scores
    occupancy = [0, 4, 0, 4, 4, 4, 5, 5, 4, 4, 2, 1, 0, 0]
    ratio = [1, .6, 1, .6, .5, .6, .4, .5, .6, .6, .8, .9, 1, 1]  # speed / its normal
    on, off = analytics.incident_conditions(speed, occupancy, ratio)
    active, start, _ = analytics.Sustained(1, hold_s=300).update([0] * 14, t, on, off)
    assert list(active) == [False] * 8 + [True, True, True, False, False, False]
    assert start[8] == t[3]  # the incident began with the drop at minute 3


def test_a_busy_minute_at_a_sensor_reading_slow_is_no_incident() -> None:
    """A sensor reading half its normal speed all along (drifting, not yet found): one
    minute of occupancy far up, then occupancy about its normal (as the busy minute's
    noise leaves it): the drop never holds five minutes with the queue there."""
    t = 1.7e9 + 60.0 * np.arange(12)
    occupancy = [4.0, 0.5, -0.3, 0.8, 4.2, -0.1, 0.2, 1.0, 0.6, -0.4, 3.5, 0.1]
    on, off = analytics.incident_conditions([-6.0] * 12, occupancy, [0.5] * 12)
    active, _, _ = analytics.Sustained(1, hold_s=300).update([0] * 12, t, on, off)
    assert not active.any()


def test_a_small_dip_in_a_steady_hour_is_no_incident() -> None:
    """Scores far out, but speed only 10 % under its normal (an hour whose weeks were
    alike, so a tiny MAD): not an incident; occupancy that does not rise: not either (no
    queue: it clears)."""
    on, off = analytics.incident_conditions([-6.0, -6.0], [6.0, 0.0], [0.9, 0.5])
    assert not on.any() and off[0] and off[1]
    # speed halved, occupancy "six sigmas" up but only 10 % over its normal (its weeks
    # alike): no queue to speak of; 50 % over: an incident's
    on, _ = analytics.incident_conditions([-6.0, -6.0], [6.0, 6.0], [0.5, 0.5],
                                          occupancy_ratio=[1.1, 1.5])
    assert list(on) == [False, True]


# -- river links: downstream ETA and lag --------------------------------------------------

@SETTINGS
@given(st.lists(st.one_of(st.floats(-2, 2), st.just(math.nan)), min_size=2, max_size=40),
       st.lists(st.one_of(st.floats(-2, 2), st.just(math.nan)), min_size=2, max_size=40),
       st.integers(0, 10))
def test_lagged_correlation_matches_the_reference(up: list[float], down: list[float],
                                                  max_k: int) -> None:
    """On series already on one grid (a reading every step), the kernel's correlation at
    each lag is Pearson's over the changes, as the reference computes it."""
    n = min(len(up), len(down))
    t = [1.7e9 + 600.0 * i for i in range(n)]
    _, _, corr = analytics.lagged_correlation(t, up[:n], t, down[:n], step_s=600,
                                              max_lag_s=600 * max_k, min_pairs=3)
    dup = list(np.diff(np.array(up[:n])))
    ddown = list(np.diff(np.array(down[:n])))
    assert same(corr, ref.lagged(dup, ddown, max_k, 3)[:len(corr)]
                + [math.nan] * (len(corr) - max_k - 1), 1e-7)


def test_the_lag_of_a_flood_wave_is_found() -> None:
    """Three flood waves at an upstream gauge reach the downstream one 7 h later, lower and
    smeared, read at other times and with gaps: the lag found is 7 h, and the ETA of a
    rise upstream is its link's travel range."""
    rng = np.random.default_rng(3)
    t_up = np.arange(0, 20 * 86400, 300.0) + 1.7e9  # every 5 min for 20 days
    peaks = [3 * 86400, 9 * 86400 + 5000, 15 * 86400 + 20000]

    def wave(t: np.ndarray, shift: float, height: float, width: float) -> np.ndarray:
        return sum(height * np.exp(-(((t - 1.7e9) - p - shift) / width) ** 2)
                   for p in peaks) + 0.5

    up = wave(t_up, 0, 2.0, 3 * 3600) + rng.normal(0, 0.01, t_up.size)
    t_down = np.sort(rng.uniform(t_up[0], t_up[-1], 4000))  # irregular readings
    down = wave(t_down, 7 * 3600, 1.2, 4 * 3600) + rng.normal(0, 0.01, t_down.size)
    down[1000:1200] = np.nan  # a gauge offline
    lag, corr, _ = analytics.lagged_correlation(t_up, up, t_down, down, step_s=600,
                                                max_lag_s=24 * 3600)
    assert lag == pytest.approx(7 * 3600, abs=1800) and corr > 0.4  # within three steps
    steady = 1.7e9 + 600.0 * np.arange(200)  # a constant rise: no changes to correlate
    assert math.isnan(analytics.lagged_correlation(steady, steady * 1e-9, steady,
                                                   steady * 1e-9)[0])
    early, late = analytics.downstream_eta([1.7e9], (6, 12))
    assert (early[0], late[0]) == (1.7e9 + 6 * 3600, 1.7e9 + 12 * 3600)


def test_an_hour_long_incident_does_not_become_its_own_baseline() -> None:
    """A sensor read every minute: three weeks of about 60 km/h on Monday 08:00-09:00, then
    an hour at 10 km/h. Every minute of that hour scores far below normal (its own week's
    readings are not the baseline), and the incident switches on after five minutes."""
    monday_8 = 1767571200.0 + 1 * 3600  # 2026-01-05 08:00 WIB
    rng = np.random.default_rng(5)
    base = analytics.SeasonalBaseline(1, utc_offset_s=7 * 3600.0)
    for w in range(3):
        t = monday_8 + w * WEEK + 60.0 * np.arange(60)
        base.update(np.zeros(60, dtype=int), t, 60 + rng.normal(0, 3, 60))
    t = monday_8 + 3 * WEEK + 60.0 * np.arange(60)
    speed = np.full(60, 10.0)
    score, med, _ = base.update(np.zeros(60, dtype=int), t, speed)
    assert (score < -5).all() and (abs(med - 60) < 3).all()
    on, off = analytics.incident_conditions(score, -score, speed / med)
    active, start, _ = analytics.Sustained(1, hold_s=300).update(np.zeros(60, dtype=int), t,
                                                                 on, off)
    assert not active[:5].any() and active[5:].all() and start[-1] == t[0]


def _rise_reference(t: list[float], y: list[float], window: float, points: int
                    ) -> list[float]:
    """Theil–Sen over the readings kept (each at least window / points after the last
    kept, at most points + 1 of them) in (t - window, t), plus the reading itself."""
    kept: list[tuple[float, float]] = []
    out = []
    for ti, yi in zip(t, y, strict=True):
        if math.isnan(yi):
            out.append(NAN)
            continue
        pts = [(a, b) for a, b in kept if ti - window < a < ti] + [(ti, yi)]
        slopes = [(y2 - y1) / (t2 - t1) for k, (t1, y1) in enumerate(pts)
                  for t2, y2 in pts[k + 1:] if t2 != t1]
        out.append(statistics.median(slopes) * 3600 if len(pts) >= 3 and slopes else NAN)
        if not kept or ti - kept[-1][0] >= window / points:
            kept = [*kept, (ti, yi)][-(points + 1):]
    return out


@SETTINGS
@given(st.lists(st.tuples(st.floats(0.5, 400), st.one_of(st.floats(-3, 3),
                                                         st.just(math.nan))),
                min_size=1, max_size=60), st.integers(1, 3))
def test_streaming_rise_matches_the_reference(steps: list[tuple[float, float]],
                                              batches: int) -> None:
    """Readings at any spacing (dense ones thinned), cut into any micro-batches."""
    t = list(itertools.accumulate(1.7e9 + dt for dt, _ in steps))
    y = [v for _, v in steps]
    want = _rise_reference(t, y, 1800.0, 8)
    stream = analytics.RiseStream(1, window_s=1800.0, points=8)
    got: list[float] = []
    for part in np.array_split(np.arange(len(t)), batches):
        got += list(stream.update([0] * len(part), [t[i] for i in part],
                                  [y[i] for i in part]))
    assert same(got, want, 1e-9)


def test_streaming_rise_is_the_batch_rise_for_a_gauge_read_every_minute() -> None:
    t = 1.7e9 + 60.0 * np.arange(300)
    level = 0.5 + 0.002 * np.arange(300) + 0.01 * np.sin(np.arange(300))
    stream = analytics.RiseStream(1).update(np.zeros(300, dtype=int), t, level)
    assert same(list(stream), list(analytics.rate_of_rise(t, level)), 1e-9)
