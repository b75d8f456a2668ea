"""The sensor page's pure parts: time ranges and their URLs, downsampling, the series
of each domain, the chart, the zoom, the CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from urllib.parse import parse_qs

import numpy as np
import pytest

from dashboards.history import (
    N_OUT,
    Series,
    SeriesSpec,
    choose_window,
    csv_text,
    downsample,
    history_figure,
    local_times,
    series_of,
    siaga_bands,
    to_arrays,
    window_label,
    zoom_of,
)
from dashboards.i18n import Lang
from dashboards.timerange import (
    PRESETS,
    TimeRange,
    format_local,
    parse_query,
    parse_when,
    search_of,
)

TZ = "Asia/Jakarta"
EN = Lang("en", TZ)
NOW = 1_796_000_000.0  # 2026-11-30
NS = 1_000_000_000


# -- time ranges ---------------------------------------------------------------------------


@pytest.mark.parametrize("preset", list(PRESETS))
def test_each_preset_ends_now_and_goes_back_its_span(preset: str) -> None:
    tr, ok = parse_query({"range": preset}, NOW, TZ)
    assert ok and tr.preset == preset
    assert tr.stop_ns == int(NOW * NS)
    assert tr.span_s == PRESETS[preset]
    assert search_of(preset) == f"?range={preset}"


def test_presets_cover_an_hour_to_a_year() -> None:
    assert list(PRESETS) == ["1h", "6h", "24h", "7d", "30d", "1y"]
    assert PRESETS["1y"] == 365 * 86400


def test_custom_range_in_local_time_round_trips_through_the_url() -> None:
    search = search_of(None, "2026-11-30T06:00", "2026-11-30T18:30", TZ)
    query = {k: v[0] for k, v in parse_qs(search[1:]).items()}
    assert query == {"start": "2026-11-30T06:00", "end": "2026-11-30T18:30"}
    tr, ok = parse_query(query, NOW, TZ)
    assert ok and tr.preset is None
    start = dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.UTC)  # 06:00 WIB is 23:00 UTC
    assert tr.start_ns == int(start.timestamp()) * NS
    assert tr.span_s == 12.5 * 3600


def test_explicit_offsets_and_utc_are_understood() -> None:
    a = parse_when("2026-11-30T06:00+07:00", TZ)
    b = parse_when("2026-11-29T23:00Z", TZ)
    c = parse_when("2026-11-30T06:00 07:00", TZ)  # "+" decoded as a space on the way
    assert a.timestamp() == b.timestamp() == c.timestamp()
    assert format_local(a.timestamp(), TZ) == "2026-11-30T06:00"
    assert format_local(a.timestamp() + 5, TZ) == "2026-11-30T06:00:05"


@pytest.mark.parametrize("query", [{"range": "2w"}, {"start": "yesterday"},
                                   {"range": "24h", "start": "2026-11-30T06:00"},
                                   {"end": "2026-11-30T06:00"}])
def test_a_query_not_understood_falls_back_to_the_last_24_hours(query: dict[str, str]
                                                                 ) -> None:
    tr, ok = parse_query(query, NOW, TZ)
    assert not ok
    assert tr.preset == "24h" and tr.stop_ns == int(NOW * NS)


def test_no_query_is_the_default_and_understood() -> None:
    tr, ok = parse_query({}, NOW, TZ)
    assert ok and tr.preset == "24h"


def test_a_custom_range_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="not after the start"):
        search_of(None, "2026-11-30T18:00", "2026-11-30T06:00", TZ)
    with pytest.raises(ValueError, match="needs a start and an end"):
        search_of(None, "", "2026-11-30T06:00", TZ)
    with pytest.raises(ValueError, match="ends after it starts"):
        TimeRange(5, 5)
    tr, ok = parse_query({"start": "2026-11-30T18:00", "end": "2026-11-30T06:00"}, NOW, TZ)
    assert not ok and tr.preset == "24h"


# -- downsampling --------------------------------------------------------------------------


def year_of_minutes(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = (np.arange(525_600, dtype=np.int64) * 60 + 1_764_000_000) * NS
    v = np.cumsum(rng.normal(0, 0.01, len(t))) + 1.0
    v[rng.integers(1000, 500_000)] = 95.0  # one spike: a flood peak of one minute
    v[rng.integers(1000, 500_000)] = -50.0
    return t, v


def test_downsampling_a_year_keeps_extremes_and_ends() -> None:
    t, v = year_of_minutes()
    dt_, dv = downsample(t, v)
    assert len(dt_) <= N_OUT and len(dt_) >= N_OUT - 10
    assert dv.max() == v.max() == 95.0
    assert dv.min() == v.min() == -50.0
    assert (dt_[0], dv[0]) == (t[0], v[0])
    assert (dt_[-1], dv[-1]) == (t[-1], v[-1])
    assert np.all(np.diff(dt_) > 0)
    # every point kept is a real reading
    idx = np.searchsorted(t, dt_)
    assert np.array_equal(v[idx], dv)


def test_short_series_are_left_whole_and_nans_dropped() -> None:
    t = np.array([1, 2, 3, 4], np.int64) * NS
    v = np.array([1.0, math.nan, 3.0, 2.0])
    dt_, dv = downsample(t, v)
    assert list(dv) == [1.0, 3.0, 2.0]
    assert list(dt_) == [1 * NS, 3 * NS, 4 * NS]


def test_store_rows_become_exact_arrays() -> None:
    rows = [(1_796_000_000_123_456_789, 1.5), (1_796_000_060_123_456_789, 2.5)]
    t, v = to_arrays(rows)
    assert t.dtype == np.int64 and int(t[0]) == rows[0][0]  # no float rounding
    assert list(v) == [1.5, 2.5]
    assert len(to_arrays([])[0]) == 0


def test_window_is_raw_until_too_many_points_then_the_coarsest_that_fits() -> None:
    assert choose_window(30 * 86400, 60) is None  # 43,200 readings: raw
    assert choose_window(365 * 86400, 60) == 3600  # 525,600: about 8,760 hourly means
    assert choose_window(365 * 86400, 3600) is None
    assert choose_window(100 * 365 * 86400, 1) == 86400
    assert window_label(EN, None) == "raw"
    assert window_label(EN, 60) == "1-min mean"
    assert window_label(EN, 3600) == "1-h mean"
    assert window_label(EN, 86400) == "1-d mean"


# -- series per domain, chart, zoom ----------------------------------------------------------


def test_each_domain_lists_its_numeric_fields_then_derived_series() -> None:
    assert [s.key for s in series_of("traffic")] == [
        "intensity", "occupancy", "averageVehicleSpeed", "traffic_state.tti"]
    assert [s.key for s in series_of("flood")] == [
        "currentLevel", "measuredDistance", "flood_state.siaga", "flood_state.rise_m_per_h"]
    assert [s.key for s in series_of("lighting")] == [
        "illuminanceLevel", "activePower", "light_state.sun_elevation"]
    assert [s.key for s in series_of("rain")] == ["precipitation", "rainRate"]


def one(key: str, t: list[int], v: list[float], window: float | None = None) -> Series:
    spec = SeriesSpec("flood", key, "m")
    return Series(spec, np.array(t, np.int64), np.array(v, np.float64), len(t), window)


def test_chart_has_a_panel_per_series_with_data_and_the_siaga_bands() -> None:
    t0 = int(NOW) * NS
    level = one("currentLevel", [t0, t0 + 60 * NS], [0.5, 3.4])
    empty = one("measuredDistance", [], [])
    fig = history_figure([level, empty], EN, bands=siaga_bands(1.0, 2.0, 3.0, 3.4),
                         names={"currentLevel": "water level"})
    assert len(fig.data) == 1
    assert list(fig.data[0].y) == [0.5, 3.4]
    # wall-clock times in the city (WIB, UTC+7) on the axis
    assert str(fig.data[0].x[0]).startswith("2026-11-30T07:53:20")
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.y0, r.y1) for r in rects] == [(1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]
    texts = [a.text for a in fig.layout.annotations]
    assert "water level (m) · raw" in texts
    assert {"Siaga III", "Siaga II", "Siaga I"} <= set(texts)


def test_chart_without_points_says_so() -> None:
    fig = history_figure([one("currentLevel", [], [])], EN)
    assert [a.text for a in fig.layout.annotations] == ["No data in this range"]
    assert len(fig.data) == 0


def test_local_times_follow_the_citys_offset() -> None:
    t = np.array([0, 3600 * NS], np.int64)
    assert [str(x) for x in local_times(t, TZ)] == ["1970-01-01T07:00:00.000",
                                                   "1970-01-01T08:00:00.000"]
    # a zone with summer time: each point gets its own offset
    t = np.array([int(dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC).timestamp()),
                  int(dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC).timestamp())]) * NS
    assert [str(x)[11:16] for x in local_times(t, "Europe/Amsterdam")] == ["01:30", "03:30"]


def test_zoom_reads_the_x_range_in_city_time_and_ignores_other_relayouts() -> None:
    z = zoom_of({"xaxis.range[0]": "2026-11-30 06:00:00.5", "xaxis.range[1]": "2026-11-30 07:00"},
                TZ)
    assert z is not None
    start = dt.datetime(2026, 11, 29, 23, 0, tzinfo=dt.UTC).timestamp()
    assert z == (int((start + 0.5) * NS), int((start + 3600) * NS))
    assert zoom_of({"xaxis2.range": ["2026-11-30 06:00", "2026-11-30 07:00"]}, TZ) == (
        int(start * NS), int((start + 3600) * NS))
    assert zoom_of({"xaxis.autorange": True}, TZ) is None
    assert zoom_of({"autosize": True}, TZ) is None
    assert zoom_of(None, TZ) is None
    assert zoom_of({"xaxis.range[0]": "nonsense", "xaxis.range[1]": "2026-11-30"}, TZ) is None


# -- CSV ------------------------------------------------------------------------------------


def test_csv_has_a_row_per_reading_time_in_the_citys_offset() -> None:
    t0 = int(dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC).timestamp()) * NS
    text = csv_text({"currentLevel": [(t0, 1.25), (t0 + 60 * NS, 1.5)],
                     "measuredDistance": [(t0 + 60 * NS, 2.0), (t0 + 120 * NS + 5_000_000,
                                                                 2.5)]}, TZ)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["time", "currentLevel", "measuredDistance"],
        ["2026-11-30T13:00:00+07:00", "1.25", ""],
        ["2026-11-30T13:01:00+07:00", "1.5", "2.0"],
        ["2026-11-30T13:02:00.005+07:00", "", "2.5"],
    ]
    assert csv_text({"currentLevel": []}, TZ) == "time,currentLevel\n"
