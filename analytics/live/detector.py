"""What every domain's detector shares: its devices, their tags, the state arrays a
checkpoint saves, and turning per-reading flags into episodes."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from analytics.derived import Tags
from analytics.live.columns import Columns, Numbering, transitions
from analytics.live.events import Episodes, Event
from analytics.settings import DetectionSettings
from cityhub.config.pack import AnySensor, CityPack
from cityhub.point import Point

__all__ = ["Detector", "Output", "ns", "utc_offset_s"]

Output = tuple[list[Point], list[Event]]
Bools = npt.NDArray[np.bool_]


def utc_offset_s(pack: CityPack) -> float:
    """The city's offset from UTC now (the hour-of-week baseline's local time)."""
    offset = dt.datetime.now(ZoneInfo(pack.city.timezone)).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def ns(t_s: float) -> int:
    """A time in seconds (a kernel's float) back to the reading's nanoseconds (readings
    have microsecond resolution, which float64 seconds keep)."""
    return round(t_s * 1e6) * 1000


class Detector:
    """One domain's streaming analytics: :meth:`step` takes that domain's rows of a
    micro-batch and returns derived points and events."""

    def __init__(self, pack: CityPack, numbering: Numbering, params: DetectionSettings,
                 episodes: Episodes) -> None:
        self.pack = pack
        self.numbering = numbering
        self.params = params
        self.episodes = episodes
        self.sensors: list[AnySensor] = [pack.sensors[d][1] for d in numbering.names]
        self.tags: list[Tags] = [tuple(sorted(pack.tags_of(d).items()))
                                 for d in numbering.names]

    def step(self, cols: Columns) -> Output:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        """The arrays that make the state, by name, first axis the device number (a
        checkpoint saves them; restoring writes into them in place)."""
        raise NotImplementedError

    def row_tags(self, cols: Columns) -> list[Tags]:
        tags = self.tags
        return [tags[d] for d in cols.dev.tolist()]

    def episodes_of(self, kind: str, cols: Columns, active: Bools, start_s: npt.NDArray[Any],
                    before: Bools, severity: str, detail: dict[str, npt.NDArray[Any]]
                    ) -> list[Event]:
        """Open and close ``kind`` episodes where a device's ``active`` flag changes:
        opening at the condition's start (``start_s``), closing at the reading that ended
        it; ``detail`` holds the values behind the decision, per row."""
        out = []
        names = self.numbering.names
        for i in transitions(cols.dev, active, before).tolist():
            device = names[int(cols.dev[i])]
            values = {k: _plain(v[i]) for k, v in detail.items()}
            e = (self.episodes.begin(kind, device, ns(float(start_s[i])), severity, values)
                 if active[i] else
                 self.episodes.finish(kind, device, int(cols.time_ns[i]),
                                      {f"end_{k}": v for k, v in values.items()}))
            if e is not None:
                out.append(e)
        return out


def _plain(x: Any) -> Any:
    """A numpy scalar as JSON's: NaN as null, floats rounded to what a reading holds."""
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    v = float(x)
    return None if np.isnan(v) else round(v, 4)
