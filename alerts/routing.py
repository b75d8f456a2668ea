"""Who hears of an alarm change: the departments whose subscriptions match it, each
contact of the level due, minus what silences and quiet hours hold back (kept as
suppressed, with the reason), plus the common MQTT feed.

A gateway's own alarm (offline) concerns the departments of the domains its sensors
serve, and those whose subscription names the rule."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from alerts.model import Alarm
from alerts.outbox import COMMON, Intent
from alerts.silences import Silence
from cityhub.config.alerting import Department, severity_rank
from cityhub.config.common import within
from cityhub.config.pack import CityPack

__all__ = ["Router"]


class Router:
    def __init__(self, pack: CityPack) -> None:
        self.departments = {d.id: d for d in pack.alerts.departments}
        self._gateway_domains = {g.id: {d.value for d in g.domains} for g in pack.gateways}
        self.zone = ZoneInfo(pack.city.timezone)

    def departments_for(self, alarm: Alarm) -> list[Department]:
        """The departments one of whose subscriptions matches the alarm."""
        out = []
        for dept in self.departments.values():
            for sub in dept.subscriptions:
                domain_ok = (alarm.domain in sub.domains if alarm.domain != "gateway"
                             else alarm.rule in sub.rules or bool(
                                 self._gateway_domains.get(alarm.gateway or "", set())
                                 & {d.value for d in sub.domains}))
                if (domain_ok
                        and (not sub.districts or alarm.district in sub.districts)
                        and (not sub.rules or alarm.rule in sub.rules)
                        and severity_rank(alarm.severity) >= severity_rank(sub.min_severity)):
                    out.append(dept)
                    break
        return out

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
