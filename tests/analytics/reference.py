"""Slow, obviously correct references for the analytics kernels: plain Python, one reading
at a time, written from the definitions in docs/analytics.md (and, where the hub already
has one, from the scalar rule in cityhub.levels / cityhub.solar)."""

from __future__ import annotations

import math
import statistics

from cityhub.levels import level_of_service as los_letter
from cityhub.levels import siaga as siaga_scalar
from cityhub.solar import sun_elevation as sun_scalar

NAN = float("nan")


def tti(speed: list[float], ff: list[float]) -> list[float]:
    return [NAN if math.isnan(s) else f / max(s, 1.0) for s, f in zip(speed, ff, strict=True)]


def los(speed: list[float], ff: list[float]) -> list[int]:
    return [-1 if math.isnan(s) else "ABCDEF".index(los_letter(s, f))
            for s, f in zip(speed, ff, strict=True)]


def hysteresis(device: list[int], x: list[float], on: float, off: float,
               state: list[bool]) -> list[bool]:
    out = []
    for d, v in zip(device, x, strict=True):
        if not math.isnan(v):
            if state[d] and v <= off:
                state[d] = False
            elif not state[d] and v >= on:
                state[d] = True
        out.append(state[d])
    return out


def siaga(level: list[float], s3: float, s2: float, s1: float) -> list[int]:
    return [0 if math.isnan(v) else siaga_scalar(v, s3, s2, s1) for v in level]


def rate_of_rise(t: list[float], y: list[float], window: float, min_points: int
                 ) -> list[float]:
    out = []
    for i in range(len(t)):
        idx = [k for k in range(i + 1) if t[k] > t[i] - window and not math.isnan(y[k])]
        if len(idx) < min_points or math.isnan(y[i]):
            out.append(NAN)
            continue
        slopes = [(y[b] - y[a]) / (t[b] - t[a]) for j, a in enumerate(idx) for b in idx[j + 1:]
                  if t[b] != t[a]]
        out.append(statistics.median(slopes) * 3600 if slopes else NAN)
    return out


def sun(lat: float, lon: float, ts: list[float]) -> list[float]:
    return [sun_scalar(lat, lon, s) for s in ts]


def faults(elev: list[float], power: list[float], rated: float, switch: float, margin: float,
           on_share: float) -> list[int]:
    out = []
    for e, p in zip(elev, power, strict=True):
        if math.isnan(p):
            out.append(0)
        elif e > switch + margin and p >= on_share * rated:
            out.append(1)
        elif e < switch - margin and p < on_share * rated:
            out.append(2)
        else:
            out.append(0)
    return out


def energy(t: list[float], p: list[float], max_gap: float) -> tuple[float, int]:
    joules, gaps = 0.0, 0
    for i in range(1, len(t)):
        if math.isnan(p[i]) or math.isnan(p[i - 1]) or t[i] - t[i - 1] > max_gap:
            gaps += 1
        else:
            joules += (p[i] + p[i - 1]) / 2 * (t[i] - t[i - 1])
    return joules / 3.6e6, gaps


def stuck(x: list[float], min_run: int) -> list[bool]:
    out = [False] * len(x)
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and not math.isnan(x[i]) and x[j + 1] == x[i]:
            j += 1
        if j - i + 1 >= min_run and not math.isnan(x[i]):
            for k in range(i, j + 1):
                out[k] = True
        i = j + 1
    return out


def ewma(device: list[int], t: list[float], v: list[float], alpha: float, devices: int
         ) -> tuple[list[float], list[float], list[bool], list[float]]:
    """z-score before each reading, rate, taken, mean after it; West's exponentially
    weighted update."""
    mean = [NAN] * devices
    var = [NAN] * devices
    last: list[tuple[float, float] | None] = [None] * devices
    zs, rates, taken, means = [], [], [], []
    for d, ti, x in zip(device, t, v, strict=True):
        prev = last[d]
        if math.isnan(x) or (prev is not None and ti <= prev[0]):
            zs.append(NAN)
            rates.append(NAN)
            taken.append(False)
            means.append(NAN)
            continue
        if prev is None:
            mean[d], var[d] = x, 0.0
            zs.append(NAN)
            rates.append(NAN)
        else:
            diff = x - mean[d]
            zs.append(diff / math.sqrt(var[d]) if var[d] > 0 else NAN)
            rates.append((x - prev[1]) / (ti - prev[0]))
            mean[d] += alpha * diff
            var[d] = (1 - alpha) * (var[d] + alpha * diff * diff)
        last[d] = (ti, x)
        taken.append(True)
        means.append(mean[d])
    return zs, rates, taken, means


def lttb(x: list[float], y: list[float], threshold: int) -> list[int]:
    n = len(x)
    if n <= threshold:
        return list(range(n))
    every = (n - 2) / (threshold - 2)
    keep, a = [0], 0
    for i in range(threshold - 2):
        nxt = range(math.floor((i + 1) * every) + 1,
                    min(math.floor((i + 2) * every) + 1, n))
        if len(nxt):
            mx = sum(x[k] for k in nxt) / len(nxt)
            my = sum(y[k] for k in nxt) / len(nxt)
        else:
            mx, my = x[-1], y[-1]
        bucket = range(math.floor(i * every) + 1, math.floor((i + 1) * every) + 1)
        areas = [abs((x[a] - mx) * (y[k] - y[a]) - (x[a] - x[k]) * (my - y[a])) for k in bucket]
        a = bucket[areas.index(max(areas))]
        keep.append(a)
    keep.append(n - 1)
    return keep


def rain(rate: list[float], heavy: float, very_heavy: float) -> list[int]:
    from cityhub.levels import rain_class

    names = ["none", "light", "moderate", "heavy", "very heavy"]
    return [-1 if math.isnan(r) else names.index(rain_class(r, heavy, very_heavy))
            for r in rate]


def seq_completeness(gateway: list[int], seq: list[int], gateways: int
                     ) -> tuple[list[int], list[int], list[int]]:
    expected, received, duplicates = [0] * gateways, [0] * gateways, [0] * gateways
    for g in range(gateways):
        mine = [s for gg, s in zip(gateway, seq, strict=True) if gg == g]
        if mine:
            expected[g] = max(mine) - min(mine) + 1
            received[g] = len(set(mine))
            duplicates[g] = len(mine) - len(set(mine))
    return expected, received, duplicates


def seasonal(device: list[int], t: list[float], v: list[float], offset: float, weeks: int,
             min_weeks: int, slot_s: int = 3600, learn: list[bool] | None = None
             ) -> tuple[list[float], list[bool]]:
    """Score against the median and MAD of the means of the same device and hour of the
    week in each of the ``weeks`` weeks before the reading's own, computed from scratch
    from the readings taken so far (those with ``learn`` True)."""
    import datetime as dt

    seen: dict[tuple[int, int], dict[int, list[float]]] = {}
    last: dict[int, float] = {}
    scores, taken = [], []
    learn = [True] * len(device) if learn is None else learn
    for d, ti, x, keep in zip(device, t, v, learn, strict=True):
        if math.isnan(x) or ti <= last.get(d, -math.inf):
            scores.append(NAN)
            taken.append(False)
            continue
        local = dt.datetime.fromtimestamp(ti + offset, dt.UTC)
        monday = (local.date() - dt.timedelta(days=local.weekday()))
        week = (monday - dt.date(1969, 12, 29)).days // 7  # weeks since a Monday
        into_week = local.weekday() * 86400 + local.hour * 3600 + local.minute * 60 \
            + local.second
        by_week = seen.setdefault((d, into_week // slot_s), {})
        past = [statistics.fmean(vs) for w, vs in by_week.items() if week - weeks <= w < week]
        score = NAN
        if len(past) >= min_weeks:
            med = statistics.median(past)
            mad = statistics.median([abs(w - med) for w in past])
            if mad > 0:
                score = (x - med) / (1.4826 * mad)
        scores.append(score)
        if keep:
            by_week.setdefault(week, []).append(x)
        last[d] = ti
        taken.append(True)
    return scores, taken


def sustained(device: list[int], t: list[float], on: list[bool], off: list[bool],
              hold_s: float, devices: int) -> tuple[list[bool], list[float], list[bool]]:
    last = [-math.inf] * devices
    since: list[float | None] = [None] * devices
    start: list[float | None] = [None] * devices
    active, starts, taken = [], [], []
    for d, ti, a, b in zip(device, t, on, off, strict=True):
        if ti > last[d]:
            last[d] = ti
            taken.append(True)
            if start[d] is not None:
                if b:
                    start[d] = since[d] = None
            elif a:
                since[d] = ti if since[d] is None else since[d]
                if ti - since[d] >= hold_s:  # type: ignore[operator]
                    start[d] = since[d]
            elif b:
                since[d] = None
        else:
            taken.append(False)
        active.append(start[d] is not None)
        starts.append(NAN if start[d] is None else start[d])  # type: ignore[arg-type]
    return active, starts, taken


def lagged(up: list[float], down: list[float], max_k: int, min_pairs: int) -> list[float]:
    """Pearson correlation of up[i] with down[i + k], k = 0 .. max_k, over the pairs
    where both are known."""
    out = []
    for k in range(max_k + 1):
        pairs = [(up[i], down[i + k]) for i in range(len(up) - k)
                 if not math.isnan(up[i]) and not math.isnan(down[i + k])]
        if len(pairs) < min_pairs:
            out.append(NAN)
            continue
        xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        vx = sum((x - mx) ** 2 for x in xs)
        vy = sum((y - my) ** 2 for y in ys)
        cov = sum((x - mx) * (y - my) for x, y in pairs)
        out.append(cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else NAN)
    return out


def window_median(device: list[int], t: list[float], v: list[float], bucket_s: float,
                  buckets: int, least: int) -> list[float]:
    """Per reading: the median of its device's bucket means over the ``buckets`` complete
    buckets before the reading's own, from every earlier reading taken (later than its
    device's newest; NaN values count for nothing); NaN with fewer than ``least``."""
    taken: dict[int, list[tuple[float, float]]] = {}
    out = []
    for d, ti, x in zip(device, t, v, strict=True):
        mine = taken.setdefault(d, [])
        if mine and ti <= mine[-1][0]:
            # skipped: the answer as of the device's newest reading
            ti = mine[-1][0]
        else:
            mine.append((ti, x))
        b = math.floor(ti / bucket_s)
        means = {}
        for k in range(b - buckets, b):
            xs = [y for s, y in mine if math.floor(s / bucket_s) == k and not math.isnan(y)]
            if xs:
                means[k] = sum(xs) / len(xs)
        out.append(statistics.median(means.values()) if len(means) >= least else math.nan)
    return out
