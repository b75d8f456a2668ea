"""Who hears of an alarm change: the departments whose subscriptions match it, each
contact of the level due, minus what silences and quiet hours hold back (kept as
suppressed, with the reason), plus the common MQTT feed.

A gateway's own alarm (offline) concerns the departments of the domains its sensors
serve, and those whose subscription names the rule.

A department's subscriptions are those of the city pack and those it added at run time
(kept in the alarm store, :mod:`alerts.subscriptions`), which :meth:`Router.use_stored`
hands in whenever they change. A stored subscription of a department the pack does not
have (removed from the pack since) is ignored, with one warning."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from zoneinfo import ZoneInfo

from alerts.model import Alarm
from alerts.outbox import COMMON, Intent
from alerts.silences import Silence
from alerts.subscriptions import StoredSubscription
from cityhub.config.alerting import Department, Subscription, severity_rank
from cityhub.config.common import within
from cityhub.config.pack import CityPack

__all__ = ["Router"]

log = logging.getLogger("cityhub.alerts")


class Router:
    def __init__(self, pack: CityPack) -> None:
        self.departments = {d.id: d for d in pack.alerts.departments}
        self._gateway_domains = {g.id: {d.value for d in g.domains} for g in pack.gateways}
        self.zone = ZoneInfo(pack.city.timezone)
        # department -> its run-time subscriptions; replaced whole (never changed in
        # place), so a routing thread reads one version or the other
        self._stored: dict[str, tuple[Subscription, ...]] = {}
        self._warned: set[str] = set()

    def use_stored(self, stored: Iterable[StoredSubscription]) -> None:
        """Route by these run-time subscriptions from now on (all of them: they replace
        the ones before). Those of a department the pack lacks are ignored, with one
        warning per department."""
        by_dept: dict[str, list[Subscription]] = {}
        for s in stored:
            if s.department not in self.departments:
                if s.department not in self._warned:
                    self._warned.add(s.department)
                    log.warning("alerts: stored subscription %d is of department %r, which "
                                "the city pack does not have: ignored (remove it with "
                                "DELETE /api/subscriptions/%d)", s.id, s.department, s.id)
                continue
            by_dept.setdefault(s.department, []).append(s.subscription)
        self._stored = {d: tuple(subs) for d, subs in by_dept.items()}

    def _matches(self, sub: Subscription, alarm: Alarm) -> bool:
        return sub.matches(domain=alarm.domain, district=alarm.district, rule=alarm.rule,
                           severity=alarm.severity,
                           gateway_domains=self._gateway_domains.get(alarm.gateway or "", ()))

    def departments_for(self, alarm: Alarm) -> list[Department]:
        """The departments one of whose subscriptions (the pack's or run-time ones)
        matches the alarm."""
        stored = self._stored
        return [dept for dept in self.departments.values()
                if any(self._matches(sub, alarm)
                       for sub in dept.subscriptions + stored.get(dept.id, ()))]

    def route(self, alarm: Alarm, change: str, now: float, silences: list[Silence],
              *, level: int = 0, departments: list[str] | None = None) -> list[Intent]:
        """The notifications of one change. ``level``: the escalation level whose
        contacts are told (0 at opening); ``departments``: only these (an escalation)."""
        intents = [Intent(COMMON, "mqtt", 0, change)] if change != "escalated" else []
        silence = next((s for s in silences if s.matches(
            device=alarm.device, gateway=alarm.gateway, district=alarm.district,
            rule=alarm.rule, at=now)), None)
        for dept in self.departments_for(alarm):
            if departments is not None and dept.id not in departments:
                continue
            held = f"silence {silence.id}" if silence is not None else None
            quiet = dept.quiet_hours
            if held is None and quiet is not None \
                    and severity_rank(alarm.severity) < severity_rank(quiet.min_severity):
                local = dt.datetime.fromtimestamp(now, self.zone)
                if within(quiet.start, quiet.end, local.hour * 60 + local.minute):
                    held = "quiet hours"
            for c in dept.contacts:
                if c.level == level or (change == "resolved" and c.level <= level):
                    intents.append(Intent(dept.id, c.id, c.level, change, held,
                                          dept.group_s if change in ("opened", "raised")
                                          else 0.0))
        return intents
