"""The detection benchmark's own scoring (``bench/detection.py``): what it calls found,
false and missed must be right, or its figures mean nothing."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_detection",
                                                  ROOT / "bench" / "detection.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_truth_turns_samples_into_episodes() -> None:
    b = _bench()
    samples = {"s1": [(0.0, []), (60.0, ["stuck"]), (120.0, ["stuck"]), (180.0, [])],
               "s2": [(0.0, ["drift"]), (60.0, ["drift"])]}
    got = {(e.kind, e.device, e.start, e.end) for e in b.truth(samples, end=600.0)}
    assert got == {("stuck", "s1", 60.0, 180.0), ("drift", "s2", 0.0, 600.0)}


def test_drift_is_scored_per_domain_and_other_kinds_count_everywhere() -> None:
    b = _bench()
    E = b.Episode
    true = [E("drift", "rain-1", 100, 200), E("drift", "tfc-1", 100, 200),
            E("stuck", "tfc-1", 1000, 1100)]
    found = [E("drift", "rain-1", 150, 250, seen=160), E("drift", "tfc-2", 100, 300),
             E("stuck", "tfc-1", 1010, 1100, seen=1020), E("stuck", "lamp-1", 50, 60)]
    week = 7 * 86400
    rain = b.score(true, found, "drift", {"rain-1"}, 0, week)
    traffic = b.score(true, found, "drift", {"tfc-1", "tfc-2"}, 0, week)
    stuck = b.score(true, found, "stuck", {"tfc-1", "tfc-2"}, 0, week)
    assert (rain["true"], rain["detected"], rain["recall"], rain["precision"]) == (1, 1, 1.0, 1.0)
    assert rain["median_delay_s"] == 60
    # the traffic drift found on the wrong sensor: a miss and a false alarm
    assert (traffic["recall"], traffic["precision"]) == (0.0, 0.0)
    assert traffic["false_alarms_per_sensor_week"] == 0.5
    # a stuck lamp counts against "stuck", though lamps are not among its sensors
    assert (stuck["detected"], stuck["precision"]) == (2, 0.5)
