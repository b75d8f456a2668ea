"""The rules of a city pack, evaluated: readings, gateway status and analytics events in;
:class:`Condition` out, each saying that a rule's condition holds (or no longer holds)
for one source (a device, a gateway, a forecast point downstream).

Pure and deterministic apart from the times passed in. What a rule needs to remember
(a value beyond its level since when, the Siaga level with its hysteresis, the window of
a rate) is kept here in memory; whether a condition is *active* is seeded from the open
alarms at start (:meth:`Rules.seed`), so after a restart a clearing reading still
resolves the alarm, and a "for" duration starts again (it never fires early).

Times: readings and events are judged by their own (device) time, so a burst of late
readings decides as it would have live; silence and offline by the service's clock.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cityhub.config.alerting import (
    EventRule,
    NoDataRule,
    OfflineRule,
    RateRule,
    SiagaRule,
    ThresholdRule,
    severity_rank,
)
from cityhub.config.pack import CityPack, FloodSensor
from cityhub.fields import Domain
from cityhub.levels import siaga
from cityhub.senml import Reading

__all__ = ["Condition", "Rules", "device_source", "gateway_source"]


def device_source(device: str, subject: str | None = None) -> str:
    return f"device/{device}" if subject is None else f"device/{device}/{subject}"


def gateway_source(gateway: str) -> str:
    return f"gateway/{gateway}"


@dataclass(frozen=True, slots=True)
class Condition:
    """A rule's verdict on one source at ``at`` (UNIX seconds): ``active`` opens (or
    refreshes) its alarm, not active clears it. ``raised``: a new occurrence (a repeat
    of an open alarm counts one more), as opposed to a refresh of one that lasts."""

    rule: str
    source: str
    active: bool
    at: float
    severity: str
    domain: str
    device: str | None = None
    gateway: str | None = None
    district: str | None = None
    value: float | None = None
    raised: bool = True
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return self.rule, self.source


@dataclass(slots=True)
class _Level:
    """What a threshold / rate / Siaga rule remembers of one device."""

    active: bool = False
    since: float | None = None  # beyond the level since (reading time)
    code: int = 0  # Siaga level with hysteresis (0: unknown)
    window: deque[tuple[float, float]] = field(default_factory=deque)


class Rules:
    """Every enabled rule of ``pack``."""

    def __init__(self, pack: CityPack, *, start: float) -> None:
        self.pack = pack
        self.city = pack.city.id
        rules = [r for r in pack.alerts.rules if r.enabled]
        self._where = {d: (gw.id, pack.tags_of(d)["district"], s)
                       for d, (gw, s) in pack.sensors.items()}
        # (domain, field) -> rules reading it
        self._by_field: dict[tuple[str, str], list[ThresholdRule | RateRule]] = {}
        self._siaga: list[SiagaRule] = []
        self._nodata: list[NoDataRule] = []
        self._offline: list[OfflineRule] = []
        self._events: list[EventRule] = []
        for r in rules:
            if isinstance(r, ThresholdRule | RateRule):
                self._by_field.setdefault((r.domain.value, r.field), []).append(r)
            elif isinstance(r, SiagaRule):
                self._siaga.append(r)
            elif isinstance(r, NoDataRule):
                self._nodata.append(r)
            elif isinstance(r, OfflineRule):
                self._offline.append(r)
            else:
                self._events.append(r)
        self._state: dict[tuple[str, str], _Level] = {}
        self._heard: dict[str, float] = dict.fromkeys(pack.sensors, start)  # arrival time
        self._offline_since: dict[str, float] = {}
        self._active: set[tuple[str, str]] = set()  # nodata / offline / event alarms open
        self._expires: dict[tuple[str, str], float] = {}  # point events' alarms
        self._scope: dict[tuple[str, str], bool] = {}
        self._gateways = {g.id for g in pack.gateways}
        # (device, field) -> the rules that judge that reading: one look-up per reading,
        # however many rules the pack has (a rule per device is common)
        self._judges: dict[tuple[str, str], tuple[ThresholdRule | RateRule | SiagaRule, ...]]
        self._judges = {}
        for (domain, fname), field_rules in self._by_field.items():
            for rule in field_rules:
                for device in self._devices(rule, domain):
                    self._judges[device, fname] = (*self._judges.get((device, fname), ()), rule)
        for srule in self._siaga:
            for device in self._devices(srule, Domain.FLOOD.value):
                key = (device, "currentLevel")
                self._judges[key] = (*self._judges.get(key, ()), srule)
        self._silent_ids = {n.id for n in self._nodata}

    def _devices(self, rule: ThresholdRule | RateRule | SiagaRule, domain: str) -> list[str]:
        """The devices of ``domain`` a rule covers."""
        names = rule.devices or [d for d, w in self._where.items()
                                 if w[2].domain.value == domain]
        return [d for d in names if d in self._where
                and self._where[d][2].domain.value == domain and self._in_scope(rule, d)]

    # -- state ------------------------------------------------------------------------------
    def seed(self, active: Iterable[tuple[str, str, float, dict[str, Any]]]) -> None:
        """Mark conditions active whose alarms are open (from the alarm store: rule,
        source, last seen, detail); a point event's alarm expires as it would have."""
        events = {e.id: e for e in self._events}
        for rule, source, last_seen, detail in active:
            self._active.add((rule, source))
            if source.startswith("device/") and source.count("/") == 1:
                self._state.setdefault((rule, source[7:]), _Level()).active = True
            if rule in events and detail.get("point"):
                self._expires[(rule, source)] = last_seen + events[rule].expire_s

    def _in_scope(self, rule: ThresholdRule | RateRule | SiagaRule | NoDataRule | EventRule,
                  device: str) -> bool:
        key = (rule.id, device)
        hit = self._scope.get(key)
        if hit is None:
            where = self._where.get(device)
            hit = self._scope[key] = where is not None and (
                (not rule.devices or device in rule.devices)
                and (not rule.districts or where[1] in rule.districts))
        return hit

    def _condition(self, rule: Any, device: str, active: bool, at: float, *,
                   severity: str | None = None, value: float | None = None,
                   raised: bool = True, subject: str | None = None,
                   detail: dict[str, Any] | None = None) -> Condition:
        gateway, district, sensor = self._where[device]
        return Condition(rule.id, device_source(device, subject), active, at,
                         severity or rule.severity, sensor.domain.value, device, gateway,
                         district, value, raised, detail or {})

    # -- readings ---------------------------------------------------------------------------
    def readings(self, readings: Iterable[Reading], arrived: float) -> list[Condition]:
        """Conditions the readings change (``arrived``: the service's clock, for silence)."""
        out: list[Condition] = []
        heard = self._heard
        fresh: set[str] = set()
        for r in readings:
            if r.device in heard:
                heard[r.device] = arrived
                fresh.add(r.device)
            judges = self._judges.get((r.device, r.field))
            if judges is None or isinstance(r.value, str | bool):
                continue
            v = float(r.value)
            t = r.time_ns / 1e9
            for rule in judges:
                c = (self._threshold(rule, r.device, t, v) if isinstance(rule, ThresholdRule)
                     else self._rate(rule, r.device, t, v) if isinstance(rule, RateRule)
                     else self._siaga_level(rule, r.device, t, v))
                if c is not None:
                    out.append(c)
        for rule_id, source in [c.key for c in out if not c.active]:
            self._active.discard((rule_id, source))
        self._active.update(c.key for c in out if c.active)
        if self._silent_ids:
            for rule_id, device in self._silent_devices():
                if device in fresh:
                    out.append(self._clear_nodata(rule_id, device, arrived))
        return out

    def _threshold(self, rule: ThresholdRule, device: str, t: float, v: float
                   ) -> Condition | None:
        s = self._state.setdefault((rule.id, device), _Level())
        beyond = v > rule.above if rule.above is not None else v < rule.below  # type: ignore[operator]
        if s.active:
            cleared = v <= rule.clear if rule.above is not None else v >= rule.clear
            if cleared:
                s.active, s.since = False, None
                return self._condition(rule, device, False, t, value=v)
            return self._condition(rule, device, True, t, value=v, raised=False)
        if not beyond:
            s.since = None
            return None
        if s.since is None or t < s.since:
            s.since = t
        if t - s.since >= rule.for_s:
            s.active = True
            return self._condition(rule, device, True, t, value=v,
                                   detail={"since": s.since, "limit": rule.above
                                           if rule.above is not None else rule.below})
        return None

    def _rate(self, rule: RateRule, device: str, t: float, v: float) -> Condition | None:
        s = self._state.setdefault((rule.id, device), _Level())
        w = s.window
        if w and t <= w[-1][0]:
            return None
        w.append((t, v))
        while w and w[0][0] < t - rule.window_s:
            w.popleft()
        if len(w) < 3 or t - w[0][0] < rule.window_s / 2:
            return None
        rate = _slope(w) * 3600.0
        limit = rule.rise_per_h if rule.rise_per_h is not None else rule.fall_per_h
        signed = rate if rule.rise_per_h is not None else -rate
        assert limit is not None
        detail = {"rate_per_h": round(rate, 4), "limit_per_h": limit}
        if s.active:
            if signed < limit * rule.clear_ratio:
                s.active = False
                return self._condition(rule, device, False, t, value=v, detail=detail)
            return self._condition(rule, device, True, t, value=v, raised=False, detail=detail)
        if signed >= limit:
            s.active = True
            return self._condition(rule, device, True, t, value=v, detail=detail)
        return None

    def _siaga_level(self, rule: SiagaRule, device: str, t: float, v: float
                     ) -> Condition | None:
        sensor = self._where[device][2]
        if not isinstance(sensor, FloodSensor):
            return None
        th = sensor.thresholds
        s = self._state.setdefault((rule.id, device), _Level())
        raw = siaga(v, th.siaga_3, th.siaga_2, th.siaga_1)
        before = s.code
        if s.code == 0 or raw < s.code:
            s.code = raw
        elif raw > s.code:  # less severe: only once clear_m under the level
            s.code = siaga(v + rule.clear_m, th.siaga_3, th.siaga_2, th.siaga_1)
        code = s.code
        detail = {"siaga": code, "level_m": v}
        if code <= rule.at:
            severity = rule.severities.get(code, rule.severity)  # type: ignore[call-overload]
            # a change of level; not the first reading after a restart (before == 0)
            changed = not s.active or (before != 0 and code != before)
            s.active = True
            return self._condition(rule, device, True, t, severity=severity, value=v,
                                   raised=changed, detail=detail)
        if s.active:
            s.active = False
            return self._condition(rule, device, False, t, value=v, detail=detail)
        return None

    # -- silence and offline ----------------------------------------------------------------
    def _silent_devices(self) -> list[tuple[str, str]]:
        """(rule, device) of the no-data alarms open."""
        ids = self._silent_ids
        return [(r, s[7:]) for r, s in self._active if r in ids and s.startswith("device/")]

    def _clear_nodata(self, rule_id: str, device: str, now: float) -> Condition:
        self._active.discard((rule_id, device_source(device)))
        rule = next(n for n in self._nodata if n.id == rule_id)
        return self._condition(rule, device, False, now)

    def heard_all(self, now: float) -> None:
        """Count every device as heard ``now`` (on connecting: the time the service could
        not hear anything is no silence of the devices)."""
        for device, last in self._heard.items():
            self._heard[device] = max(last, now)

    def tick(self, now: float, *, silence: bool = True) -> list[Condition]:
        """Conditions time alone decides: silent devices (unless ``silence`` is false:
        while the service itself hears nothing), gateways offline for long enough, point
        events' alarms expiring."""
        out: list[Condition] = []
        for rule in self._nodata if silence else ():
            domains = {d.value for d in rule.domains}
            for device, last in self._heard.items():
                sensor = self._where[device][2]
                key = (rule.id, device_source(device))
                if key in self._active or sensor.domain.value not in domains \
                        or not self._in_scope(rule, device):
                    continue
                limit = max(rule.intervals * sensor.interval_s, rule.min_s)
                if now - last > limit:
                    self._active.add(key)
                    out.append(self._condition(rule, device, True, now,
                                               detail={"silent_s": round(now - last),
                                                       "limit_s": limit}))
        for orule in self._offline:
            for gw, since in self._offline_since.items():
                key = (orule.id, gateway_source(gw))
                if key in self._active or (orule.gateways and gw not in orule.gateways):
                    continue
                if now - since >= orule.for_s:
                    self._active.add(key)
                    out.append(self._gateway(orule, gw, True, now, {"offline_since": since}))
        for key, until in list(self._expires.items()):
            if now >= until:
                del self._expires[key]
                self._active.discard(key)
                erule = next((e for e in self._events if e.id == key[0]), None)
                if erule is not None and erule.auto_resolve:
                    parts = key[1].split("/")
                    out.append(self._condition(erule, parts[1], False, now,
                                               subject=parts[2] if len(parts) > 2 else None,
                                               detail={"expired": True}))
        return out

    def _gateway(self, rule: OfflineRule, gw: str, active: bool, at: float,
                 detail: dict[str, Any]) -> Condition:
        district = next((g.district for g in self.pack.gateways if g.id == gw), None)
        return Condition(rule.id, gateway_source(gw), active, at, rule.severity, "gateway",
                         None, gw, district, None, True, detail)

    def status(self, gateway: str, state: str, now: float) -> list[Condition]:
        """A gateway's retained status (``online`` / ``offline``) as it arrives; one not
        in the pack is no concern of this city's."""
        if gateway not in self._gateways:
            return []
        if state == "offline":
            self._offline_since.setdefault(gateway, now)
            return []
        self._offline_since.pop(gateway, None)
        out = []
        for rule in self._offline:
            key = (rule.id, gateway_source(gateway))
            if key in self._active:
                self._active.discard(key)
                out.append(self._gateway(rule, gateway, False, now, {}))
        return out

    # -- analytics events -------------------------------------------------------------------
    def event(self, event: dict[str, Any], now: float) -> list[Condition]:
        """One analytics event (docs/protocol.md): an open episode opens, its closing
        clears; an event that opens and closes at once opens an alarm that expires."""
        device, domain, kind = event.get("device"), event.get("domain"), event.get("kind")
        severity = event.get("severity", "warning")
        if device not in self._where or severity not in ("info", "warning", "critical"):
            return []
        detail = dict(event.get("detail") or {})
        subject = detail.get("downstream") if kind == "flood_eta" else None
        start, end = event.get("start"), event.get("end")
        at = _unix(end or start) or now
        out = []
        for rule in self._events:
            if (rule.domain is not None and rule.domain.value != domain) \
                    or (rule.events and kind not in rule.events) \
                    or severity_rank(severity) < severity_rank(rule.min_severity) \
                    or not self._in_scope(rule, device):
                continue
            sev = rule.override or severity
            key = (rule.id, device_source(device, subject))
            info = {"event": kind, "event_id": event.get("id"), **detail}
            if end is None or end != start:
                active = end is None
                if active:
                    self._active.add(key)
                else:
                    self._active.discard(key)
                out.append(self._condition(rule, device, active, at, severity=sev,
                                           subject=subject, detail=info))
            else:
                self._active.add(key)
                self._expires[key] = now + rule.expire_s
                out.append(self._condition(rule, device, True, at, severity=sev,
                                           subject=subject, detail={**info, "point": True}))
        return out


def _slope(points: deque[tuple[float, float]]) -> float:
    """Least-squares slope (per second) of the window."""
    n = len(points)
    t0 = points[0][0]
    mt = sum(t - t0 for t, _ in points) / n
    mv = sum(v for _, v in points) / n
    num = sum((t - t0 - mt) * (v - mv) for t, v in points)
    den = sum((t - t0 - mt) ** 2 for t, _ in points)
    return num / den if den > 0 else 0.0


def _unix(iso: Any) -> float | None:
    if not isinstance(iso, str):
        return None
    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
