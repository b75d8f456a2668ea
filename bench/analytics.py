"""The analytics kernels against pandas / NumPy equivalents, in one run.

Input: ``--readings`` readings (default 10 million) over ``--devices`` devices (default
5,000), sorted by device then time, one reading a minute each, random walks with NaN
sprinkled in. For each kernel: its time after a warm-up call (compiled, cached), the
equivalent's time on the same input in the same run, and the speedup. The equivalents are
what one would write with pandas (groupby, rolling, ewm) or plain NumPy where pandas adds
nothing; for the rolling Theil-Sen slope, which pandas can only do with a Python function
per window, both run on ``--theil-readings`` readings (default 20,000).

Also: the streaming update rate on one core (micro-batches of 10,000 readings through
:class:`analytics.StreamState`), the cold compile time of every kernel (a fresh process
with an empty numba cache) and the start-up time with the cache filled (a second fresh
process), and the peak memory the kernels take beyond their input (a fresh process:
peak RSS while running them, minus RSS before, against the input arrays' bytes).

Prints one final JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {"speedup_vs_pandas": 10.0, "streaming_per_s": 2e6, "cached_start_s": 2.0,
           "peak_memory_vs_input": 3.0}


def note(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def make_input(n: int, devices: int, seed: int = 1) -> dict[str, np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    per = n // devices
    dev = np.repeat(np.arange(devices, dtype=np.int64), per)
    t = np.tile(1.7e9 + 60.0 * np.arange(per, dtype=np.float64), devices)
    walk = np.cumsum(rng.normal(0, 0.5, size=dev.size)).reshape(devices, per)
    v = (40 + walk - walk[:, :1]).ravel()
    v[rng.random(v.size) < 0.001] = np.nan
    speed = np.clip(v, 0, 120)
    level = np.abs(v) / 20
    power = np.where(rng.random(v.size) < 0.5, 0.0, 95.0 + rng.normal(0, 2, v.size))
    return {"device": dev, "t": t, "v": v, "speed": speed, "level": level, "power": power}


def best(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` timed calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def kernels_vs_pandas(x: dict[str, np.ndarray[Any, Any]], theil_n: int, repeat: int
                      ) -> dict[str, dict[str, float]]:
    import pandas as pd

    import analytics

    dev, t, v, speed, level, power = (x[k] for k in ("device", "t", "v", "speed", "level",
                                                     "power"))
    devices = int(dev.max()) + 1
    df = pd.DataFrame({"device": dev, "t": t, "v": v, "speed": speed, "power": power})
    bounds = [-np.inf, 0.30, 0.40, 0.50, 0.67, 0.85, np.inf]
    out: dict[str, dict[str, float]] = {}

    def pair(name: str, ours: Callable[[], object], theirs: Callable[[], object]) -> None:
        a, b = best(ours, repeat), best(theirs, repeat)
        out[name] = {"numba_s": round(a, 4), "baseline_s": round(b, 4),
                     "speedup": round(b / a, 1)}
        note(f"{name}: numba {a:.3f} s, baseline {b:.3f} s, x{b / a:.1f}")

    pair("travel_time_index", lambda: analytics.travel_time_index(speed, 50.0),
         lambda: 50.0 / df["speed"].clip(lower=1.0))
    pair("level_of_service", lambda: analytics.level_of_service(speed, 50.0),
         lambda: pd.cut(df["speed"] / 50.0, bounds, labels=list("FEDCBA"), right=True))

    def hysteresis_pandas() -> object:
        tti = 50.0 / df["speed"].clip(lower=1.0)
        on = pd.Series(np.where(tti >= 1.6, 1.0, np.where(tti <= 1.3, 0.0, np.nan)))
        return on.groupby(df["device"]).ffill().fillna(0.0).astype(bool)

    tti = analytics.travel_time_index(speed, 50.0)
    pair("congestion_hysteresis",
         lambda: analytics.congestion(dev, tti, np.zeros(devices, dtype=bool)),
         hysteresis_pandas)
    pair("siaga", lambda: analytics.siaga(level, 0.8, 1.5, 2.0),
         lambda: pd.cut(pd.Series(level), [-np.inf, 0.8, 1.5, 2.0, np.inf],
                        labels=[4, 3, 2, 1], right=False))

    def stuck_pandas() -> object:
        s = df["v"]
        run = (s != s.shift()).cumsum()
        return s.groupby(run).transform("size") >= 10

    pair("stuck", lambda: analytics.stuck(v, min_run=10), stuck_pandas)

    def ewma_pandas() -> object:
        g = df.groupby("device")["v"]
        mean = g.transform(lambda s: s.ewm(alpha=0.05, adjust=False, ignore_na=True)
                           .mean().shift())
        std = g.transform(lambda s: s.ewm(alpha=0.05, adjust=False, ignore_na=True)
                          .std(bias=True).shift())
        return (df["v"] - mean) / std

    pair("ewma_zscore", lambda: analytics.StreamState(devices, alpha=0.05).update(dev, t, v),
         ewma_pandas)
    elev = analytics.sun_elevation(-6.9, 107.6, t)
    pair("lamp_faults", lambda: analytics.lamp_faults(elev, power, 100.0),
         lambda: np.where((elev > 0) & (power >= 10), 1,
                          np.where((elev < -6) & (power < 10), 2, 0)))
    per = dev.size // devices

    def energy_numba() -> object:
        return [analytics.energy_kwh(t[i * per:(i + 1) * per], power[i * per:(i + 1) * per])
                for i in range(min(devices, 500))]

    sub = df[df["device"] < min(devices, 500)]

    def energy_pandas() -> object:
        def one(g: pd.DataFrame) -> float:
            dt = np.diff(g["t"].to_numpy())
            p = g["power"].to_numpy()
            ok = dt <= 900
            return float(np.sum((p[1:] + p[:-1])[ok] / 2 * dt[ok]) / 3.6e6)
        return sub.groupby("device")[["t", "power"]].apply(one)

    pair("energy_kwh (500 devices)", energy_numba, energy_pandas)

    tt = 1.7e9 + 60.0 * np.arange(theil_n)  # one gauge, a reading a minute
    yy = level[:theil_n]

    def theil_pandas() -> object:
        s = pd.Series(yy, index=pd.to_datetime(tt, unit="s"))

        def slope(w: pd.Series) -> float:
            x = w.index.asi8 / 1e9
            y = w.to_numpy()
            i, j = np.triu_indices(len(y), 1)
            d = x[j] - x[i]
            ok = (d != 0) & ~np.isnan(y[i]) & ~np.isnan(y[j])
            return float(np.median((y[j] - y[i])[ok] / d[ok])) if ok.any() else np.nan
        return s.rolling("3600s").apply(slope, raw=False)

    pair(f"rate_of_rise ({theil_n} readings)",
         lambda: analytics.rate_of_rise(tt, yy, window_s=3600), theil_pandas)
    m = min(dev.size, 1_000_000)  # one long series (a year of a sensor every 30 s)
    xs, ys = 1.7e9 + 30.0 * np.arange(m), np.nan_to_num(v[:m])

    def lttb_numpy() -> object:  # the usual NumPy formulation, one bucket at a time
        n, th = xs.size, 1000
        every = (n - 2) / (th - 2)
        keep, a = [0], 0
        for i in range(th - 2):
            lo, hi = int(np.floor((i + 1) * every)) + 1, min(int(np.floor((i + 2) * every)) + 1, n)
            mx, my = xs[lo:hi].mean(), ys[lo:hi].mean()
            s, e = int(np.floor(i * every)) + 1, int(np.floor((i + 1) * every)) + 1
            area = np.abs((xs[a] - mx) * (ys[s:e] - ys[a]) - (xs[a] - xs[s:e]) * (my - ys[a]))
            a = s + int(np.argmax(area))
            keep.append(a)
        keep.append(n - 1)
        return keep

    pair(f"lttb ({m} points to 1000)", lambda: analytics.lttb(xs, ys, 1000), lttb_numpy)
    return out


def streaming_rate(x: dict[str, np.ndarray[Any, Any]], batch: int = 10_000) -> float:
    import analytics

    dev, t, v = x["device"], x["t"], x["v"]
    # in arrival order: time-major, every device's reading of a minute together
    order = np.lexsort((dev, t))
    dev, t, v = dev[order], t[order], v[order]
    state = analytics.StreamState(int(dev.max()) + 1)
    state.update(dev[:batch], t[:batch], v[:batch])  # compile or load
    state = analytics.StreamState(int(dev.max()) + 1)
    start = time.perf_counter()
    for i in range(0, dev.size, batch):
        state.update(dev[i:i + batch], t[i:i + batch], v[i:i + batch])
    return dev.size / (time.perf_counter() - start)


_WARM = """
import time, sys
t0 = time.perf_counter()
import numpy as np, analytics
x = np.linspace(1.7e9, 1.7e9 + 6e5, 1000); d = np.zeros(1000, dtype=np.int64)
v = np.sin(x); s = np.abs(v)
analytics.travel_time_index(s * 50, 50.0); analytics.level_of_service(s * 50, 50.0)
analytics.congestion(d, s * 2, np.zeros(1, bool)); analytics.siaga(s, 0.3, 0.6, 0.9)
analytics.rate_of_rise(x, s); analytics.sun_elevation(-6.9, 107.6, x)
analytics.lamp_faults(v * 90, s * 100, 100.0); analytics.energy_kwh(x, s * 100)
analytics.stuck(v); analytics.StreamState(1).update(d, x, v); analytics.lttb(x, v, 100)
print(time.perf_counter() - t0)
"""


def start_up() -> tuple[float, float]:
    """(cold seconds: empty cache, cached seconds) for a fresh process to import analytics
    and run every kernel once."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        runs = [float(subprocess.run([sys.executable, "-c", _WARM], env=env, cwd=ROOT,
                                     capture_output=True, text=True, check=True).stdout)
                for _ in range(2)]
    return runs[0], runs[1]


_MEMORY = """
import resource, sys, json
import numpy as np
sys.path.insert(0, {root!r})
import analytics
from bench.analytics import make_input
x = make_input({n}, {devices})
inputs = sum(a.nbytes for a in x.values())
analytics.travel_time_index(x["speed"][:10], 50.0)  # compile before measuring
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
before = rss()
peak0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
tti = analytics.travel_time_index(x["speed"], 50.0)
analytics.level_of_service(x["speed"], 50.0)
analytics.congestion(x["device"], tti, np.zeros(int(x["device"].max()) + 1, bool))
analytics.stuck(x["v"])
analytics.StreamState(int(x["device"].max()) + 1).update(x["device"], x["t"], x["v"])
analytics.lamp_faults(analytics.sun_elevation(-6.9, 107.6, x["t"]), x["power"], 100.0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"inputs": inputs, "extra": max(peak, peak0) - before}}))
"""


def memory(n: int, devices: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _MEMORY.format(root=str(ROOT), n=n,
                                                               devices=devices)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    m = json.loads(out)
    return {"input_mb": round(m["inputs"] / 2**20, 1),
            "peak_extra_mb": round(m["extra"] / 2**20, 1),
            "peak_vs_input": round(m["extra"] / m["inputs"], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--readings", type=int, default=10_000_000)
    ap.add_argument("--devices", type=int, default=5_000)
    ap.add_argument("--theil-readings", type=int, default=20_000)
    ap.add_argument("--quick", action="store_true",
                    help="1,000,000 readings over 1,000 devices, one timed call each")
    args = ap.parse_args()
    n, devices = (1_000_000, 1_000) if args.quick else (args.readings, args.devices)
    repeat = 1 if args.quick else 3
    note(f"{n:,} readings over {devices:,} devices")
    x = make_input(n, devices)
    cold, cached = start_up()
    note(f"start-up: cold {cold:.2f} s, cached {cached:.2f} s")
    kernels = kernels_vs_pandas(x, args.theil_readings, repeat)
    stream = streaming_rate(x)
    note(f"streaming: {stream:,.0f} readings/s")
    mem = memory(n, devices)
    note(f"memory: {mem}")
    worst = min(k["speedup"] for k in kernels.values())
    result = {
        "benchmark": "analytics", "quick": args.quick, "readings": n, "devices": devices,
        "kernels": kernels, "min_speedup_vs_baseline": worst,
        "streaming_readings_per_s": round(stream),
        "compile_cold_s": round(cold, 2), "start_cached_s": round(cached, 2),
        "memory": mem,
        "targets": {
            "every_kernel_10x_baseline": worst >= TARGETS["speedup_vs_pandas"],
            "streaming_2M_per_s": stream >= TARGETS["streaming_per_s"],
            "cached_start_le_2s": cached <= TARGETS["cached_start_s"],
            "peak_memory_le_3x_input": mem["peak_vs_input"] <= TARGETS["peak_memory_vs_input"],
        },
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
