"""Notification text, in Bahasa Indonesia or English, from templates: one subject and one
body for a group of alarm changes told to one contact, with the values behind each alarm
and a link to its sensor's page on the command centre; and the JSON payload the webhook,
MQTT and Apprise channels carry."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from alerts.channels.base import Outgoing
from alerts.model import Alarm

__all__ = ["CATALOGUE", "alarm_payload", "render"]

CATALOGUE: dict[str, dict[str, str]] = {
    "en": {
        "opened": "OPEN", "raised": "RAISED", "escalated": "ESCALATED",
        "resolved": "RESOLVED",
        "info": "info", "warning": "warning", "critical": "CRITICAL",
        "subject_one": "[{severity}] {title}: {where} ({change})",
        "subject_many": "[{severity}] {count} alarms for {department}",
        "line": "{change} · {severity} · {title} · {where} · {value}at {time}",
        "value": "value {value} · ",
        "link": "Sensor page: {url}",
        "alarm_link": "Alarm: {url}",
        "footer": "Acknowledge in the command centre. — {city} city hub",
        "escalated_note": "Not acknowledged in time: you are the next contact (level {level}).",
    },
    "id": {
        "opened": "BARU", "raised": "NAIK", "escalated": "ESKALASI", "resolved": "SELESAI",
        "info": "info", "warning": "waspada", "critical": "KRITIS",
        "subject_one": "[{severity}] {title}: {where} ({change})",
        "subject_many": "[{severity}] {count} alarm untuk {department}",
        "line": "{change} · {severity} · {title} · {where} · {value}pukul {time}",
        "value": "nilai {value} · ",
        "link": "Halaman sensor: {url}",
        "alarm_link": "Alarm: {url}",
        "footer": "Tanggapi (acknowledge) di command center. — {city} city hub",
        "escalated_note": "Belum ditanggapi tepat waktu: Anda kontak berikutnya "
                          "(level {level}).",
    },
}
_RANK = {"info": 0, "warning": 1, "critical": 2}


def sensor_link(dashboard_url: str, device: str, city: str) -> str:
    """The sensor's page in the command centre, of its city (``?city=``: a command centre
    serving several cities opens it in that one)."""
    return f"{dashboard_url.rstrip('/')}/sensor/{quote(device)}?city={quote(city)}"


def alarm_payload(alarm: Alarm, change: str, dashboard_url: str | None, city: str
                  ) -> dict[str, Any]:
    """One alarm change as JSON (the webhook, MQTT and Apprise bodies carry these)."""
    out: dict[str, Any] = {"change": change, "alarm": alarm.json()}
    if dashboard_url and alarm.device:
        out["sensor_url"] = sensor_link(dashboard_url, alarm.device, city)
    return out


def _where(alarm: Alarm) -> str:
    who = alarm.device or alarm.gateway or alarm.source
    return f"{who} ({alarm.district})" if alarm.district else who


def render(group_id: str, items: list[tuple[Alarm, str, int]], *, language: str,
           department: str, city: str, zone: ZoneInfo, dashboard_url: str | None
           ) -> Outgoing:
    """The message for ``items`` ((alarm, change, level) each) to one contact."""
    t = CATALOGUE.get(language, CATALOGUE["en"])
    worst = max(items, key=lambda x: _RANK.get(x[0].severity, 0))[0].severity
    lines = []
    for alarm, change, level in items:
        when = dt.datetime.fromtimestamp(alarm.last_seen, zone).strftime("%d-%m-%Y %H:%M")
        value = t["value"].format(value=f"{alarm.value:g}") if alarm.value is not None else ""
        lines.append(t["line"].format(change=t.get(change, change),
                                      severity=t[alarm.severity], title=alarm.title,
                                      where=_where(alarm), value=value, time=when))
        if change == "escalated":
            lines.append("  " + t["escalated_note"].format(level=level))
        if dashboard_url and alarm.device:
            lines.append("  " + t["link"].format(
                url=sensor_link(dashboard_url, alarm.device, city)))
    if len(items) == 1:
        alarm, change, _ = items[0]
        subject = t["subject_one"].format(severity=t[alarm.severity], title=alarm.title,
                                          where=_where(alarm), change=t.get(change, change))
    else:
        subject = t["subject_many"].format(severity=t[worst], count=len(items),
                                           department=department)
    text = "\n".join([*lines, "", t["footer"].format(city=city)]) + "\n"
    payload = {"type": "cityhub.alarms", "city": city, "department": department,
               "language": language, "subject": subject,
               "notifications": [alarm_payload(a, c, dashboard_url, city)
                                 for a, c, _ in items]}
    return Outgoing(id=group_id, subject=subject, text=text, payload=payload)
