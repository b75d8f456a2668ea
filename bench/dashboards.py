"""The dashboards' server-side work at city scale, and the time to a populated map in a
real headless Chromium.

A synthetic city pack of 5,000 sensors (50 gateways x 100: 2,500 traffic, 1,000 flood
gauges, 1,000 street lights, 500 rain gauges) and one more flood gauge with a year of
1-minute levels (525,600 points), in a SQLite store (``cityhub.store.SQLiteStore``,
``write_sync``) with every sensor's live reading (traffic with its ``traffic_state``).
Read through the dashboards' ``CityData`` (``cache_s=0``: every run queries the store).

- Overview refresh: what ``pages.overview.refresh`` does per tick, without Dash:
  ``CityData.latest()`` + ``sensor_states`` + ``kpis`` + ``sensor_markers`` per domain
  (what the refresh patches in).
  p50 / p95 over ``--runs`` (default 20). Target p95 <= 150 ms.
- Sensor history: the sensor page's query + downsampling of the year
  (``CityData.sensor_series``: every numeric series of the gauge's domain; a year of
  1-minute levels is read as 1-h means, then MinMax-LTTB to 2,000 points), p50 / p95;
  and the same with the figure built (``history_figure``), and a zoomed month (raw). Target
  p95 <= 300 ms.
- Populated map: the app served (``dashboards.webserver.WebServer``), a user logged in
  through /login in Chromium (selenium, Debian's chromium and chromedriver), then
  ``--loads`` (default 3) loads of / timed until ``#overview-kpi-reporting`` shows a
  number and the map has drawn (its canvas). Target: the slowest <= 3 s. Holds
  ``flock /tmp/cityhub-browser.lock`` while Chromium runs.

Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import math
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from accounts.store import Accounts  # noqa: E402
from cityhub.config import load_pack  # noqa: E402
from cityhub.config.pack import CityPack  # noqa: E402
from cityhub.point import Point  # noqa: E402
from cityhub.store import SQLiteStore  # noqa: E402
from dashboards.app import create_app, freeze_startup_objects  # noqa: E402
from dashboards.context import DashboardSettings  # noqa: E402
from dashboards.data import CityData  # noqa: E402
from dashboards.figures import DOMAINS, kpis, sensor_markers  # noqa: E402
from dashboards.history import bands_of, history_figure  # noqa: E402
from dashboards.i18n import Lang  # noqa: E402
from dashboards.status import sensor_states  # noqa: E402

TARGETS = {"overview_p95_ms": 150.0, "history_p95_ms": 300.0, "populated_map_s": 3.0}
GATEWAYS, PER_GATEWAY = 50, 100
YEAR_MIN = 525_600
NS = 1_000_000_000
KINDS = (["traffic"] * 50 + ["flood"] * 20 + ["lighting"] * 20 + ["rain"] * 10)


def note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def write_pack(root: Path) -> Path:
    """The synthetic city: 4 districts, 50 gateways of 100 sensors, one year-long gauge."""
    (root / "gateways").mkdir(parents=True)
    districts = []
    for i in range(4):
        lon0, lat0 = 107.55 + 0.05 * (i % 2), -6.85 - 0.05 * (i // 2)
        districts.append(
            f"  - {{id: d{i}, name: District {i}, centroid: {{lat: {lat0 - 0.025}, "
            f"lon: {lon0 + 0.025}}}, outline: [[{lon0}, {lat0}], [{lon0 + 0.05}, {lat0}], "
            f"[{lon0 + 0.05}, {lat0 - 0.05}], [{lon0}, {lat0 - 0.05}]]}}")
    (root / "city.yaml").write_text(
        "pack: 1\ncity: {id: benchdash, name: Bench City, country: ID, "
        "timezone: Asia/Jakarta, location: {lat: -6.9, lon: 107.6}}\n"
        "districts:\n" + "\n".join(districts) + "\n")
    for g in range(GATEWAYS):
        lines = []
        for i in range(PER_GATEWAY):
            kind = KINDS[i]
            lat, lon = -6.851 - 0.098 * ((g * PER_GATEWAY + i) % 97) / 97, \
                107.551 + 0.098 * ((g * 31 + i * 7) % 89) / 89
            extra = {"flood": ", thresholds: {siaga_3: 1.0, siaga_2: 2.0, siaga_1: 3.0}",
                     "lighting": ", thresholds: {rated_power: 90}"}.get(kind, "")
            lines.append(f"  - {{id: s-{g:02d}-{i:03d}, domain: {kind}, "
                         f"location: {{lat: {lat:.5f}, lon: {lon:.5f}}}{extra}}}")
        (root / "gateways" / f"gw-{g:02d}.yaml").write_text(
            f"id: gw-{g:02d}\ndistrict: d{g % 4}\nlocation: {{lat: -6.9, lon: 107.6}}\n"
            "sensors:\n" + "\n".join(lines) + "\n")
    (root / "gateways" / "gw-year.yaml").write_text(
        "id: gw-year\ndistrict: d0\nlocation: {lat: -6.9, lon: 107.6}\nsensors:\n"
        "  - {id: year-gauge, domain: flood, location: {lat: -6.87, lon: 107.57}, "
        "thresholds: {siaga_3: 1.0, siaga_2: 2.0, siaga_1: 3.0}}\n")
    return root


def fill(pack: CityPack, store: SQLiteStore, now_s: float) -> None:
    """Every sensor's live reading, traffic's derived state, and the gauge's year."""
    now = int(now_s * NS)
    live = []
    for n, (device, (_gw, s)) in enumerate(pack.sensors.items()):
        if device == "year-gauge":
            continue
        tags = tuple(sorted(pack.tags_of(device).items()))
        fields: dict[str, Any] = {
            "traffic": {"averageVehicleSpeed": 10.0 + n % 45, "intensity": 12.0,
                        "occupancy": 0.2},
            "flood": {"currentLevel": 0.3 + (n % 7) * 0.5},
            "lighting": {"powerState": "on", "status": "ok", "activePower": 88.0,
                         "illuminanceLevel": 1.0},
            "rain": {"rainRate": float(n % 25), "precipitation": 0.1},
        }[s.domain.value]
        live.append(Point(s.domain.value, tags, fields, now - n * 1000))
        if s.domain.value == "traffic":
            live.append(Point("traffic_state", tags, {"tti": 1.1, "incident": n % 97 == 0},
                              now - n * 1000))
    store.write_sync(live)
    tags = tuple(sorted(pack.tags_of("year-gauge").items()))
    first = (int(now_s) // 60) * 60 - (YEAR_MIN - 1) * 60
    for k in range(0, YEAR_MIN, 50_000):
        store.write_sync([
            Point("flood", tags, {"currentLevel": round(
                1.0 + 0.8 * math.sin(i / 1440 * 2 * math.pi) + (2.5 if i % 100_003 == 0
                                                                else 0.0), 4)},
                  (first + 60 * i) * NS) for i in range(k, min(YEAR_MIN, k + 50_000))])


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    fn()  # warm-up
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, math.ceil(0.95 * len(ms)) - 1)], 1),
            "max_ms": round(ms[-1], 1), "runs": runs}


def overview_once(data: CityData, pack: CityPack, L: Lang) -> None:
    states = sensor_states(pack, data.latest(), now_ns=time.time_ns(), stale_after_s=900)
    kpis(states)
    for domain in DOMAINS:
        sensor_markers(domain, [s for s in states if s.domain == domain], L)


def browser(app: Any, loads: int) -> dict[str, Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from dashboards.webserver import WebServer
    from tests.browser import CHROMEDRIVER, chromium_options

    options = chromium_options()
    populated = re.compile(r"\d")
    times = []
    with open("/tmp/cityhub-browser.lock", "w") as lock, WebServer(app.server, "127.0.0.1",
                                                                    0) as url:
        note("waiting for the browser lock")
        fcntl.flock(lock, fcntl.LOCK_EX)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        try:
            wait = WebDriverWait(driver, 30, poll_frequency=0.02)
            driver.get(f"{url}login?next=/")
            wait.until(lambda d: d.find_elements(By.ID, "username"))
            driver.find_element(By.ID, "username").send_keys("bench")
            driver.find_element(By.ID, "password").send_keys("bench-password-1")
            driver.find_element(By.ID, "login-submit").click()
            wait.until(lambda d: d.find_elements(By.ID, "shell-user"))

            def ready(d: Any) -> bool:
                kpi = d.find_elements(By.ID, "overview-kpi-reporting")
                return bool(kpi and populated.search(kpi[0].text)
                            and d.find_elements(By.CSS_SELECTOR, "#overview-map canvas"))

            for _ in range(loads):
                driver.get("about:blank")
                t = time.perf_counter()
                driver.get(url)
                wait.until(ready)
                times.append(time.perf_counter() - t)
            shown = driver.find_element(By.ID, "overview-kpi-reporting").text
            logs = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        finally:
            driver.quit()
            fcntl.flock(lock, fcntl.LOCK_UN)
    return {"populated_map_s": [round(x, 2) for x in times],
            "populated_map_median_s": round(statistics.median(times), 2),
            "populated_map_max_s": round(max(times), 2), "kpi_reporting": shown,
            "console_errors": len(logs)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dash-") as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        pack = load_pack(write_pack(root / "pack"))
        note(f"pack: {len(pack.sensors)} sensors in {time.perf_counter() - t:.1f} s")
        now = time.time()
        writer = SQLiteStore(root / "r.db")
        t = time.perf_counter()
        fill(pack, writer, now)
        note(f"store filled in {time.perf_counter() - t:.1f} s")

        async def open_store() -> SQLiteStore:
            return SQLiteStore(root / "r.db")

        data = CityData(pack, open_store, cache_s=0)
        accounts = Accounts(root / "accounts.db")
        accounts.add("bench", "viewer", "bench-password-1")
        app = create_app(data, DashboardSettings(refresh_s=5.0, secret_key="bench-secret"),
                         accounts=accounts)
        freeze_startup_objects()  # as `cityhub dashboard` does once its app is built
        L = Lang("en", pack.city.timezone)
        out: dict[str, Any] = {"benchmark": "dashboards", "date": time.strftime("%Y-%m-%d"),
                               "sensors": len(pack.sensors) - 1, "year_points": YEAR_MIN}
        try:
            t = time.perf_counter()
            latest = data.latest()
            out["latest_rows"] = len(latest)
            out["latest_ms_once"] = round((time.perf_counter() - t) * 1000, 1)
            note(f"latest: {len(latest)} rows")
            out["overview"] = timed(lambda: overview_once(data, pack, L), args.runs)
            # where the time goes: each part alone (on one fetched ``latest``)
            states = sensor_states(pack, latest, now_ns=time.time_ns(), stale_after_s=900)
            out["overview_parts_p50_ms"] = {
                "latest": timed(data.latest, args.runs)["p50_ms"],
                "sensor_states": timed(lambda: sensor_states(
                    pack, latest, now_ns=time.time_ns(), stale_after_s=900),
                    args.runs)["p50_ms"],
                "kpis": timed(lambda: kpis(states), args.runs)["p50_ms"],
                "sensor_traces": timed(lambda: [sensor_markers(
                    d, [s for s in states if s.domain == d], L) for d in DOMAINS],
                    args.runs)["p50_ms"]}
            note(f"overview {out['overview']}")
            _, gauge = pack.sensors["year-gauge"]
            stop = int(time.time() * NS)
            year = stop - 365 * 86400 * NS
            series = data.sensor_series(gauge, year, stop)
            out["history_year_read"] = sum(s.read for s in series)
            out["history_year_window_s"] = series[0].window_s
            out["history_year_drawn"] = max(len(s.t) for s in series)
            out["history"] = timed(lambda: data.sensor_series(gauge, year, stop), args.runs)

            def with_figure() -> object:
                got = data.sensor_series(gauge, year, stop)
                return history_figure(got, L, bands=bands_of(gauge, got, L))

            out["history_with_figure"] = timed(with_figure, args.runs)
            month = stop - 30 * 86400 * NS
            out["history_month_raw"] = timed(lambda: data.sensor_series(gauge, month, stop),
                                             max(5, args.runs // 2))
            note(f"history {out['history']}")
            if not args.no_browser:
                out.update(browser(app, args.loads))
        finally:
            data.close()
            accounts.close()
    targets = {"overview_p95_le_150ms": out["overview"]["p95_ms"]
               <= TARGETS["overview_p95_ms"],
               "history_p95_le_300ms": out["history"]["p95_ms"] <= TARGETS["history_p95_ms"]}
    if "populated_map_max_s" in out:
        targets["populated_map_le_3s"] = out["populated_map_max_s"] <= TARGETS[
            "populated_map_s"]
    out["targets"] = targets
    out["ok"] = all(targets.values())
    out["runtime_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
