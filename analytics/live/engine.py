"""The streaming analytics of one city: readings in, derived points and events out.

Pure and synchronous (the service does the I/O): :meth:`Engine.process` takes the readings
of a micro-batch, splits them by domain, keeps only those newer than their device's
newest processed reading (delivery is at-least-once: a redelivered or late reading never
counts twice; the ingester stores it all the same, and ``cityhub analytics backfill``
recomputes a period from the store), and runs each domain's detectors once over the lot.
The same readings in the same per-device order give the same points and events, whatever
the batches: what makes a restart from a checkpoint land on the same series.

:meth:`Engine.state` and :meth:`Engine.restore` are the checkpoint: every detector's
arrays by name, with each domain's device names, so a pack that gained or lost sensors
since keeps the state of those it still has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from analytics.live.columns import Columns, Numbering
from analytics.live.detector import Detector
from analytics.live.events import Episodes, Event
from analytics.live.flood import FloodDetector
from analytics.live.lighting import LightingDetector
from analytics.live.quality import QualityDetector
from analytics.live.rain import RainDetector
from analytics.live.traffic import TrafficDetector
from analytics.settings import DetectionSettings
from cityhub.config.pack import CityPack
from cityhub.fields import Domain
from cityhub.point import Point
from cityhub.senml import Reading

__all__ = ["Engine"]

_DETECTORS: dict[Domain, type[Detector]] = {
    Domain.TRAFFIC: TrafficDetector, Domain.FLOOD: FloodDetector,
    Domain.LIGHTING: LightingDetector, Domain.RAIN: RainDetector}


class _Domain:
    def __init__(self, pack: CityPack, domain: Domain, params: DetectionSettings,
                 episodes: Episodes) -> None:
        self.numbering = Numbering(tuple(sorted(
            d for d, (_, s) in pack.sensors.items() if s.domain == domain)))
        self.detectors: dict[str, Detector] = {
            "quality": QualityDetector(pack, self.numbering, params, episodes),
            domain.value: _DETECTORS[domain](pack, self.numbering, params, episodes)}
        self.last_t = np.full(len(self.numbering), -np.inf)

    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        out: dict[str, np.ndarray[Any, Any]] = {"last_t": self.last_t}
        for name, det in self.detectors.items():
            out |= {f"{name}.{k}": v for k, v in det.state().items()}
        return out


class Engine:
    """Streaming analytics of one city pack (see the module's docstring)."""

    def __init__(self, pack: CityPack, params: DetectionSettings) -> None:
        self.pack = pack
        self.episodes = Episodes(pack)
        self.domains = {d: _Domain(pack, d, params, self.episodes) for d in Domain
                        if d in _DETECTORS}
        self.domain_of = {dev: s.domain for dev, (_, s) in pack.sensors.items()}
        rain = self.domains[Domain.RAIN].detectors["rain"]
        if self.flood is not None and isinstance(rain, RainDetector):
            self.flood.rain = rain  # is the city dry? (a flood gauge's drift)
        self.late = 0  # readings not newer than their device's newest: skipped

    @property
    def flood(self) -> FloodDetector | None:
        """The flood detector (its river links' travel ranges can be refined), or None
        in a pack without gauges."""
        domain = self.domains.get(Domain.FLOOD)
        det = domain.detectors.get("flood") if domain is not None else None
        return det if isinstance(det, FloodDetector) else None

    def process(self, readings: Iterable[Reading]) -> tuple[list[Point], list[Event]]:
        """Derived points and events of a micro-batch."""
        split: dict[Domain, list[Reading]] = {}
        for r in readings:
            split.setdefault(self.domain_of[r.device], []).append(r)
        points: list[Point] = []
        events: list[Event] = []
        for domain, rs in split.items():
            dom = self.domains.get(domain)
            if dom is None:
                continue
            cols = Columns.of(rs, dom.numbering)
            new = cols.t > dom.last_t[cols.dev]
            self.late += int((~new).sum())
            cols = cols.select(new)
            if not len(cols):
                continue
            np.maximum.at(dom.last_t, cols.dev, cols.t)
            for det in dom.detectors.values():
                p, e = det.step(cols)
                points += p
                events += e
                if isinstance(det, QualityDetector):  # the others judge stuck rows apart
                    cols = cols.flagged(stuck=det.stuck_rows)
        return points, events

    # -- checkpoint -------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray[Any, Any]]:
        """The state as named arrays (``np.savez`` takes them)."""
        out: dict[str, np.ndarray[Any, Any]] = {
            "episodes": np.frombuffer(self.episodes.dump(), dtype=np.uint8)}
        for domain, dom in self.domains.items():
            out[f"{domain.value}/devices"] = np.array(dom.numbering.names, dtype=np.str_)
            out |= {f"{domain.value}/{k}": v for k, v in dom.state().items()}
        return out

    def restore(self, saved: dict[str, np.ndarray[Any, Any]]) -> None:
        """Take a saved state back (device by device, by name); what is not in it stays
        fresh. A ValueError if the saved arrays do not fit (another version's state)."""
        for domain, dom in self.domains.items():
            names = saved.get(f"{domain.value}/devices")
            if names is None:
                continue
            old = {str(n): k for k, n in enumerate(names.tolist())}
            pairs = [(k, old[d]) for k, d in enumerate(dom.numbering.names) if d in old]
            if not pairs:
                continue
            new_rows = np.array([a for a, _ in pairs])
            old_rows = np.array([b for _, b in pairs])
            for key, arr in dom.state().items():
                got = saved.get(f"{domain.value}/{key}")
                if got is None:
                    continue
                if got.shape[1:] != arr.shape[1:] or got.dtype != arr.dtype:
                    raise ValueError(f"{domain.value}/{key}: saved {got.dtype}{got.shape}, "
                                     f"expected {arr.dtype}(n, {arr.shape[1:]})")
                arr[new_rows] = got[old_rows]
        if "episodes" in saved:
            self.episodes.load(saved["episodes"].tobytes())
