"""The reports: the period, the planning report's tables and charts (from the real SQLite
store), the departments' response figures, and the page's callback for a logged-in
user (Flask's test client)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from accounts.store import Accounts
from analytics.report import build_report
from cityhub.config.alerting import AlertsPolicy
from cityhub.config.pack import CityPack
from cityhub.stats import percentile
from cityhub.store import SQLiteStore
from dashboards.app import create_app
from dashboards.components import (
    csv_text,
    period_bounds,
    planning_figures,
    planning_tables,
    response_figure,
    response_table,
)
from dashboards.data import CityData
from dashboards.data.alarms import departments_of, response_rows
from dashboards.i18n import Lang
from tests.dashboards.conftest import PASSWORDS, points, settings

EN = Lang("en", "Asia/Jakarta")
JAKARTA = ZoneInfo("Asia/Jakarta")


def bounds(choice: str, first: str | None, last: str | None, now: float
           ) -> tuple[dt.datetime, dt.datetime]:
    got = period_bounds(choice, first, last, now=now, timezone="Asia/Jakarta")
    assert got is not None
    return got


def test_period_bounds() -> None:
    now = 1_780_000_000.0
    start, stop = bounds("7d", None, None, now)
    assert stop.timestamp() == now and (stop - start) == dt.timedelta(days=7)
    start, stop = bounds("30d", "2026-01-01", None, now)
    assert (stop - start) == dt.timedelta(days=30)
    start, stop = bounds("custom", "2026-01-01", "2026-01-02", now)
    assert start == dt.datetime(2026, 1, 1, tzinfo=JAKARTA)  # the city's midnight
    assert stop == dt.datetime(2026, 1, 3, tzinfo=JAKARTA)  # the last day included
    assert start.timestamp() == dt.datetime(2025, 12, 31, 17, tzinfo=dt.UTC).timestamp()
    assert period_bounds("custom", "2026-01-02", "2026-01-01", now=now,
                         timezone="Asia/Jakarta") is None
    assert period_bounds("custom", "2026-01-02", None, now=now,
                         timezone="Asia/Jakarta") is None


async def test_planning_tables_and_charts(small_pack: CityPack,
                                          city_data: tuple[CityData, SQLiteStore]) -> None:
    _data, writer = city_data  # one reading of each sensor but tfc-2, normal
    writer.write_sync(points(small_pack, speed=4.0, level=1.5, age_s=120))  # LOS F, Siaga III
    writer.write_sync(points(small_pack, speed=4.0, level=2.5, age_s=60))  # Siaga II
    stop = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    rep = await build_report(small_pack, writer, stop - dt.timedelta(hours=2), stop)
    names = {d.id: d.name for d in small_pack.districts}
    tables = planning_tables(EN, rep, names)
    keys, header, flood = tables["flood"]
    assert header[0] == "District" and len(keys) == len(header)
    gauge_h = 60 / 3600  # each reading stands for the gauge's 60 s interval
    assert flood == [{"district": "North", "siaga_4": round(gauge_h, 3),
                      "siaga_3": round(gauge_h, 3), "siaga_2": round(gauge_h, 3),
                      "siaga_1": 0.0}]
    _, _, congestion = tables["congestion"]
    assert {r["district"] for r in congestion} == {"North"}  # tfc-1 crawled; tfc-b1 did not
    assert sum(r["hours"] for r in congestion) > 0
    _, _, complete = tables["completeness"]
    by = {r["district"]: r for r in complete}
    assert by["North"]["received"] == 3 * 4 and by["South"]["received"] == 3
    text = csv_text(*tables["flood"])
    assert text.splitlines() == ["District,Siaga IV (h),Siaga III (h),Siaga II (h),Siaga I (h)",
                                 f"North,{round(gauge_h, 3)},{round(gauge_h, 3)},"
                                 f"{round(gauge_h, 3)},0.0"]
    figures = planning_figures(EN, rep, names)
    assert set(figures) == {"congestion", "flood", "lighting", "completeness"}
    siaga = {t.name: list(t.y) for t in figures["flood"].data}
    assert siaga["Siaga III"] == [pytest.approx(gauge_h)] and siaga["Siaga I"] == [0.0]
    assert float(sum(sum(row) for row in figures["congestion"].data[0].z)) > 0


def _alarm(aid: str, severity: str, opened: float, acked: float | None,
           resolved: float | None, domain: str = "flood", district: str = "north"
           ) -> dict[str, Any]:
    return {"id": aid, "rule": "r", "domain": domain, "district": district, "gateway": "gw-a",
            "severity": severity, "opened_at": opened, "acknowledged_at": acked,
            "resolved_at": resolved}


def test_response_rows(small_pack: CityPack) -> None:
    pack = small_pack.model_copy(update={"alerts": AlertsPolicy.model_validate({
        "departments": [
            {"id": "bpbd", "name": "BPBD", "subscriptions": [{"domains": ["flood"]}]},
            {"id": "ops", "name": "Pusdalops", "subscriptions": [{"min_severity": "info"}]},
            {"id": "south", "name": "South desk", "subscriptions": [
                {"districts": ["south"], "min_severity": "info"}]}]})})
    t0 = 1_000_000.0
    alarms = [_alarm("a", "warning", t0, t0 + 60, t0 + 600),
              _alarm("b", "warning", t0 + 10, t0 + 190, None),
              _alarm("c", "warning", t0 + 20, None, None),
              _alarm("d", "info", t0 + 30, t0 + 90, t0 + 120),  # BPBD: below warning
              _alarm("e", "critical", t0 + 40, t0 + 100, t0 + 99_999),  # resolved after stop
              _alarm("f", "warning", t0 - 10, t0, t0)]  # before the period
    assert [d.id for d in departments_of(pack, alarms[3])] == ["ops"]
    rows = response_rows(pack, alarms, t0, t0 + 3600)
    by = {(r.department, r.severity): r for r in rows}
    assert set(by) == {("BPBD", "critical"), ("BPBD", "warning"), ("Pusdalops", "critical"),
                       ("Pusdalops", "warning"), ("Pusdalops", "info")}
    w = by[("BPBD", "warning")]
    assert (w.received, w.acknowledged, w.resolved, w.open_at_end) == (3, 2, 1, 2)
    assert w.ack_median_min == pytest.approx(2.0)  # 1 min and 3 min
    assert w.ack_p90_min == pytest.approx(1 + 0.9 * 2)
    assert w.resolve_median_min == pytest.approx(10.0)
    c = by[("Pusdalops", "critical")]
    assert (c.resolved, c.open_at_end, c.resolve_median_min) == (0, 1, None)
    assert [r.department for r in rows][:2] == ["BPBD", "BPBD"]  # critical first
    assert rows[0].severity == "critical"
    keys, header, table = response_table(EN, rows)
    assert len(keys) == len(header) and table[1]["ack_p90_min"] == 2.8
    fig = response_figure(EN, rows)
    assert list(fig.data[0].y) == [r.ack_median_min for r in rows]
    assert percentile([], 0.5) is None and percentile([4.0], 0.9) == 4.0


def test_reports_page_for_a_logged_in_user(small_pack: CityPack, accounts: Accounts,
                                           city_data: tuple[CityData, SQLiteStore]) -> None:
    data, writer = city_data
    writer.write_sync(points(small_pack, speed=4.0, level=1.5, age_s=60))
    app = create_app(data, settings(), accounts=accounts)
    client = app.server.test_client()
    build = {
        "output": "..reports-planning.children...reports-response.children..."
                  "reports-data.data..",
        "outputs": [{"id": "reports-planning", "property": "children"},
                    {"id": "reports-response", "property": "children"},
                    {"id": "reports-data", "property": "data"}],
        "inputs": [{"id": "reports-period", "property": "value", "value": "7d"},
                   {"id": "reports-dates", "property": "start_date", "value": None},
                   {"id": "reports-dates", "property": "end_date", "value": None},
                   {"id": "reports-view", "property": "value", "value": "tables"},
                   {"id": "reports-table", "property": "value", "value": "flood"}],
        "changedPropIds": ["reports-period.value"], "state": []}
    assert client.post("/_dash-update-component", json=build).status_code == 401
    client.get("/login")
    with client.session_transaction() as s:
        csrf = s["csrf"]
    r = client.post("/login", data={"csrf": csrf, "username": "vera",
                                    "password": PASSWORDS["vera"], "next": "/reports"})
    assert r.status_code == 302 and r.headers["Location"] == "/reports"
    assert client.get("/reports").status_code == 200
    r = client.post("/_dash-update-component", json=build)
    assert r.status_code == 200
    out = r.get_json()["response"]
    planning = json.dumps(out["reports-planning"])
    assert "North" in planning and "Siaga III (h)" in planning
    assert "The alerts API is not configured" in json.dumps(out["reports-response"])
    tables = out["reports-data"]["data"]["planning"]
    assert tables["flood"][2][0]["siaga_3"] > 0
    # the CSV download of the chosen table
    download = {
        "output": "reports-planning-download.data",
        "outputs": {"id": "reports-planning-download", "property": "data"},
        "inputs": [{"id": "reports-planning-csv", "property": "n_clicks", "value": 1}],
        "changedPropIds": ["reports-planning-csv.n_clicks"],
        "state": [{"id": "reports-data", "property": "data",
                   "value": out["reports-data"]["data"]},
                  {"id": "reports-table", "property": "value", "value": "flood"}]}
    r = client.post("/_dash-update-component", json=download)
    got = r.get_json()["response"]["reports-planning-download"]["data"]
    assert got["filename"] == "planning-flood.csv"
    assert got["content"].startswith("District,Siaga IV (h)") and "North" in got["content"]
