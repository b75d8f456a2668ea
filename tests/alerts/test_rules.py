"""The rules on their own: pure logic, readings and times in, conditions out."""

from __future__ import annotations

import random
from typing import Any

import pytest

from alerts.rules import Condition, Rules
from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.senml import Reading

GAUGE = "flood-cikapundung-dago"  # Siaga III 1.5 m, II 2.0, I 2.5
ROAD = "tfc-dago-01"
T0 = 1_780_000_000.0


@pytest.fixture(scope="module")
def bandung() -> CityPack:
    return load_pack("bandung")


def with_rules(pack: CityPack, *rules: dict[str, Any], departments: tuple[Any, ...] = ()
               ) -> CityPack:
    """``pack`` with only ``rules``."""
    from cityhub.config.alerting import AlertsPolicy

    policy = AlertsPolicy.model_validate({"rules": list(rules), "departments": departments})
    return pack.model_copy(update={"alerts": policy})


def reading(device: str, field: str, value: float, t: float) -> Reading:
    return Reading(device, field, value, int(t * 1e9))


def feed(rules: Rules, device: str, field: str, values: list[float], step: float = 60.0,
         t0: float = T0) -> list[Condition]:
    out: list[Condition] = []
    for k, v in enumerate(values):
        out += rules.readings([reading(device, field, v, t0 + k * step)], t0 + k * step)
    return out


CRAWL = {"id": "crawl", "kind": "threshold", "domain": "traffic",
         "field": "averageVehicleSpeed", "below": 10, "clear": 15, "for_s": 300}


def test_threshold_needs_its_for_duration(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, CRAWL), start=T0)
    # 5 minutes below 10 km/h: readings at 0, 60, ..., 240 s are not yet 300 s
    assert [c for c in feed(rules, ROAD, "averageVehicleSpeed", [5] * 5) if c.active] == []
    out = feed(rules, ROAD, "averageVehicleSpeed", [5], t0=T0 + 300)
    assert [(c.rule, c.source, c.active, c.raised) for c in out] == \
        [("crawl", f"device/{ROAD}", True, True)]
    assert out[0].district == "coblong" and out[0].gateway == "gw-dago"


def test_threshold_interrupted_starts_its_for_again(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, CRAWL), start=T0)
    out = feed(rules, ROAD, "averageVehicleSpeed", [5, 5, 5, 12, 5, 5, 5, 5, 5, 5, 5])
    # the run starts again at index 4 (240 s): opened 300 s later, at index 9
    assert [c.at - T0 for c in out if c.active and c.raised] == [9 * 60]


def test_threshold_hysteresis_does_not_flap_on_a_noisy_series(bandung: CityPack) -> None:
    """A speed wavering around the level (8..14 km/h, never back over 15) opens once."""
    rules = Rules(with_rules(bandung, {**CRAWL, "for_s": 0}), start=T0)
    rng = random.Random(3)
    values = [rng.uniform(8, 14) for _ in range(200)]
    out = feed(rules, ROAD, "averageVehicleSpeed", values)
    assert sum(1 for c in out if c.active and c.raised) == 1
    assert not any(not c.active for c in out)
    # and one clearing reading clears it, once
    out = feed(rules, ROAD, "averageVehicleSpeed", [16, 30, 40], t0=T0 + 200 * 60)
    assert [c.active for c in out] == [False]


def test_threshold_without_hysteresis_would_flap(bandung: CityPack) -> None:
    """The same series with clear at the level opens many times: what hysteresis is for
    (this test fails if clear were ignored)."""
    rules = Rules(with_rules(bandung, {**CRAWL, "for_s": 0, "clear": 10}), start=T0)
    rng = random.Random(3)
    out = feed(rules, ROAD, "averageVehicleSpeed", [rng.uniform(8, 14) for _ in range(200)])
    assert sum(1 for c in out if c.active and c.raised) > 10


def test_siaga_follows_the_gauge_levels_with_hysteresis(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, {"id": "siaga", "kind": "siaga", "at": 3}), start=T0)
    out = feed(rules, GAUGE, "currentLevel", [1.0, 1.4, 1.6, 1.7, 2.1, 2.05, 1.98, 1.9,
                                              1.5, 1.44, 1.2])
    got = [(c.active, c.severity, c.detail.get("siaga"), c.raised) for c in out]
    assert got[0] == (True, "warning", 3, True)  # 1.6 m: Siaga III
    assert (True, "critical", 2, True) in got  # 2.1 m: Siaga II, a raise
    # 1.98 is under 2.0 but not 5 cm under: still Siaga II; 1.9 is: back to III
    assert [g[2] for g in got[:6]] == [3, 3, 2, 2, 2, 3]
    # 1.5 m is Siaga III still; 1.44 (under 1.5 - 0.05) clears
    assert got[-1][0] is False and len(got) == 8


def test_rate_of_rise(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, {"id": "rise", "kind": "rate", "domain": "flood",
                                       "field": "currentLevel", "rise_per_h": 0.5,
                                       "window_s": 900}), start=T0)
    flat = feed(rules, GAUGE, "currentLevel", [1.0] * 20)
    assert flat == []
    # 1 cm a minute is 0.6 m/h
    out = feed(rules, GAUGE, "currentLevel", [1.0 + 0.01 * k for k in range(20)],
               t0=T0 + 20 * 60)
    opened = [c for c in out if c.active and c.raised]
    # opened as the window's slope (flat readings leaving it) passes 0.5 m/h
    assert len(opened) == 1 and 0.5 <= opened[0].detail["rate_per_h"] < 0.6
    assert out[-1].detail["rate_per_h"] == pytest.approx(0.6, rel=0.01)
    out = feed(rules, GAUGE, "currentLevel", [1.19] * 20, t0=T0 + 40 * 60)
    assert [c.active for c in out if not c.active] == [False]


def test_nodata_and_its_clearing(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, {"id": "silent", "kind": "nodata", "intervals": 5,
                                       "min_s": 0, "devices": [ROAD]}), start=T0)
    assert rules.tick(T0 + 299) == []  # interval 60 s x 5
    out = rules.tick(T0 + 301)
    assert [(c.source, c.active) for c in out] == [(f"device/{ROAD}", True)]
    assert rules.tick(T0 + 400) == []  # told once
    out = rules.readings([reading(ROAD, "averageVehicleSpeed", 40, T0 + 400)], T0 + 401)
    assert [(c.source, c.active) for c in out] == [(f"device/{ROAD}", False)]
    # a service that hears nothing itself tells no silence
    assert rules.tick(T0 + 2000, silence=False) == []


def test_gateway_offline_for_long_enough(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, {"id": "off", "kind": "offline", "for_s": 120}),
                  start=T0)
    assert rules.status("gw-dago", "offline", T0) == []
    assert rules.tick(T0 + 60) == []
    out = rules.tick(T0 + 121)
    assert [(c.source, c.active, c.district) for c in out] == \
        [("gateway/gw-dago", True, "coblong")]
    out = rules.status("gw-dago", "online", T0 + 200)
    assert [(c.source, c.active) for c in out] == [("gateway/gw-dago", False)]
    # back online before for_s: nothing
    rules.status("gw-pasteur", "offline", T0 + 300)
    rules.status("gw-pasteur", "online", T0 + 350)
    assert rules.tick(T0 + 1000) == []


def event(kind: str, device: str, *, end: str | None, start: str = "2026-05-29T00:00:00Z",
          severity: str = "critical", **detail: Any) -> dict[str, Any]:
    return {"id": "e1", "city": "bandung", "domain": "traffic" if device.startswith("tfc")
            else "flood", "kind": kind, "device": device, "gateway": "gw-dago",
            "district": "coblong", "start": start, "end": end, "severity": severity,
            "detail": detail}


def test_events_open_and_close_alarms(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, {"id": "inc", "kind": "event", "domain": "traffic",
                                       "events": ["incident"]}), start=T0)
    out = rules.event(event("incident", ROAD, end=None), T0)
    assert [(c.active, c.severity) for c in out] == [(True, "critical")]
    assert rules.event(event("anomaly", ROAD, end=None), T0) == []  # not its kind
    out = rules.event(event("incident", ROAD, end="2026-05-29T00:30:00Z"), T0)
    assert [c.active for c in out] == [False]


def test_point_events_expire(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, {"id": "eta", "kind": "event", "domain": "flood",
                                       "events": ["flood_eta"], "expire_s": 3600}), start=T0)
    t = "2026-05-29T00:00:00Z"
    out = rules.event(event("flood_eta", GAUGE, start=t, end=t, downstream="manggarai"), T0)
    assert [(c.source, c.active) for c in out] == [(f"device/{GAUGE}/manggarai", True)]
    assert rules.tick(T0 + 3599) == []
    assert [(c.source, c.active) for c in rules.tick(T0 + 3600)] == \
        [(f"device/{GAUGE}/manggarai", False)]


def test_seeded_alarms_clear_after_a_restart(bandung: CityPack) -> None:
    rules = Rules(with_rules(bandung, CRAWL), start=T0)
    rules.seed([("crawl", f"device/{ROAD}", T0, {})])
    out = feed(rules, ROAD, "averageVehicleSpeed", [5, 20])
    assert [(c.active, c.raised) for c in out] == [(True, False), (False, True)]


def test_an_event_rule_without_a_domain_takes_every_domains_events(bandung: CityPack
                                                                    ) -> None:
    """The shipped sensor-stuck rule: stuck traffic, flood or rain sensors alike."""
    rules = Rules(bandung, start=T0)
    for device in (ROAD, GAUGE, "rain-dago-01"):
        e = event("stuck", device, end=None, severity="warning")
        e["domain"] = bandung.sensors[device][1].domain.value
        out = [c for c in rules.event(e, T0) if c.rule == "sensor-stuck"]
        assert [(c.source, c.severity) for c in out] == [(f"device/{device}", "info")]
