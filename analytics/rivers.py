"""``cityhub analytics rivers``: each river link's travel time, as the pack says and as the
history shows.

For every link of the pack's rivers whose both ends are gauges of the pack, the two
gauges' stored levels over the period go through :func:`analytics.lagged_correlation`
(the rises upstream against the rises downstream, on a 10-minute grid, at every lag up to
a day): the lag with the highest correlation is the travel time the history shows. Set
beside the link's ``travel_h``, it tells whether the pack's range still holds (a river
bed dredged, a weir rebuilt) or should be narrowed, which the flood forecasts downstream
(``flood_eta`` events) rest on. A link to a forecast point (no gauge there) keeps its
range: there is nothing to compare with.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from dataclasses import dataclass

from analytics.flood import lagged_correlation
from analytics.history import Progress, period_ns, readings
from cityhub.config.pack import CityPack
from cityhub.store.base import Store

__all__ = ["LinkLag", "refined_travel", "river_lags"]

#: the correlation's grid (``lagged_correlation``'s ``step_s``): a lag is known to +/- this
LAG_STEP_S = 600.0


@dataclass(frozen=True)
class LinkLag:
    """One river link: the pack's travel range and the lag the history shows."""

    river: str
    upstream: str
    downstream: str
    travel_h: tuple[float, float]
    lag_h: float | None  # None: no gauge downstream, or too little history
    correlation: float | None
    note: str

    @property
    def within(self) -> bool | None:
        """Whether the history's lag lies in the pack's range (None: not known)."""
        if self.lag_h is None:
            return None
        return self.travel_h[0] <= self.lag_h <= self.travel_h[1]


def refined_travel(pack_h: tuple[float, float], lag: LinkLag, *, min_correlation: float,
                   margin: float) -> tuple[float, float] | None:
    """The travel range the forecasts downstream use for a link: the history's lag,
    widened by ``margin`` of itself and by the correlation's grid step on each side,
    within the pack's range ``pack_h``. None keeps the pack's range: no lag known, a
    correlation under ``min_correlation`` (the rises do not match well enough to trust),
    or a lag outside the pack's range (then the pack needs a look, not a silent
    override: ``cityhub analytics rivers`` says so)."""
    if lag.lag_h is None or lag.correlation is None or lag.correlation < min_correlation \
            or not lag.within:
        return None
    half = lag.lag_h * margin + LAG_STEP_S / 3600.0
    lo, hi = max(pack_h[0], lag.lag_h - half), min(pack_h[1], lag.lag_h + half)
    return (round(lo, 3), round(hi, 3)) if 0 < lo <= hi else None


async def river_lags(pack: CityPack, store: Store, start: dt.datetime, stop: dt.datetime,
                     progress: Progress | None = None) -> list[LinkLag]:
    """The lag of every river link of the pack over [start, stop)."""
    t0, t1 = period_ns(start, stop)
    links = [(r, link) for r in pack.rivers for link in r.links]
    out = []
    for k, (river, link) in enumerate(links):
        if link.downstream not in pack.sensors:
            out.append(LinkLag(river.id, link.upstream, link.downstream, link.travel_h,
                               None, None, "a forecast point: no gauge to compare with"))
        else:
            city = pack.city.id
            up = await readings(store, "flood", link.upstream, "currentLevel", t0, t1,
                                city=city)
            down = await readings(store, "flood", link.downstream, "currentLevel", t0, t1,
                                  city=city)
            lag_s, corr, _ = lagged_correlation(up[0] / 1e9, up[1], down[0] / 1e9, down[1],
                                                max_lag_s=max(86400.0,
                                                              link.travel_h[1] * 7200))
            if math.isnan(lag_s):
                out.append(LinkLag(river.id, link.upstream, link.downstream, link.travel_h,
                                   None, None, "too little history with both gauges moving"))
            else:
                lag = LinkLag(river.id, link.upstream, link.downstream, link.travel_h,
                              lag_s / 3600, round(corr, 3), "")
                note = "within the pack's range" if lag.within else \
                    "outside the pack's range: check the link's travel_h"
                out.append(dataclasses.replace(lag, note=note))
        if progress is not None:
            progress(k + 1, len(links))
    return out
