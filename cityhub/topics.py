"""MQTT topics of the wire contract, built and parsed in one place.

::

    city/{city}/{domain}/{gateway}            a SenML pack of many devices (what edge agents send)
    city/{city}/{domain}/{gateway}/{device}   one device (simple third-party publishers)
    city/{city}/status/{gateway}              retained birth / last-will JSON
    city/{city}/events/{domain}/{kind}        analytics events (JSON with a stable id)
    city/{city}/alerts/{domain}/{severity}    alarms opened, raised, resolved (JSON)
    city/{city}/notify/{department}           a department's grouped notifications, JSON
    city/{city}/deadletter                    messages the ingester refused, with the reason

Identifiers (city, gateway, device) are slugs: lower-case letters, digits, ``-`` and ``_``,
starting with a letter or digit, at most 63 characters. The topic carries identity: the
broker's ACL lets a gateway publish only under its own name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cityhub.errors import DecodeError
from cityhub.fields import Domain

__all__ = [
    "SLUG",
    "TelemetryTopic",
    "alert_topic",
    "city_of",
    "deadletter_topic",
    "event_filter",
    "event_topic",
    "notify_topic",
    "parse_telemetry",
    "status_topic",
    "telemetry_filter",
    "telemetry_topic",
]

SLUG = r"[a-z0-9][a-z0-9_-]{0,62}"
_SLUG_RE = re.compile(f"^{SLUG}$")
_DOMAINS = "|".join(d.value for d in Domain)
_TELEMETRY_RE = re.compile(
    rf"^city/(?P<city>{SLUG})/(?P<domain>{_DOMAINS})/(?P<gateway>{SLUG})(?:/(?P<device>{SLUG}))?$"
)


@dataclass(frozen=True, slots=True)
class TelemetryTopic:
    """A parsed telemetry topic. ``device`` is None for a gateway pack."""

    city: str
    domain: Domain
    gateway: str
    device: str | None = None

    def __str__(self) -> str:
        return telemetry_topic(self.city, self.domain, self.gateway, self.device)


def _slug(kind: str, value: str) -> str:
    if not _SLUG_RE.match(value):
        raise ValueError(f"{kind} {value!r} is not a slug (lower-case letters, digits, - and _)")
    return value


def telemetry_topic(city: str, domain: Domain | str, gateway: str, device: str | None = None
                    ) -> str:
    """The topic a gateway (or, with ``device``, a single device) publishes readings on."""
    base = f"city/{_slug('city', city)}/{Domain(domain).value}/{_slug('gateway', gateway)}"
    return base if device is None else f"{base}/{_slug('device', device)}"


def telemetry_filter(city: str | None = None) -> list[str]:
    """Subscription filters matching every telemetry topic of ``city`` (or of all cities)."""
    c = "+" if city is None else _slug("city", city)
    return [f"city/{c}/{d.value}/#" for d in Domain]


def status_topic(city: str, gateway: str) -> str:
    """Retained birth / last-will topic of a gateway."""
    return f"city/{_slug('city', city)}/status/{_slug('gateway', gateway)}"


def alert_topic(city: str, domain: Domain | str, severity: str) -> str:
    """Topic alerts of ``domain`` (or ``gateway``, a gateway's own alarms) and
    ``severity`` are published on."""
    area = "gateway" if domain == "gateway" else Domain(domain).value
    return f"city/{_slug('city', city)}/alerts/{area}/{_slug('severity', severity)}"


def notify_topic(city: str, department: str) -> str:
    """Topic a department's notifications (its MQTT contacts) are published on."""
    return f"city/{_slug('city', city)}/notify/{_slug('department', department)}"


def event_topic(city: str, domain: Domain | str, kind: str) -> str:
    """Topic the analytics service publishes events of ``domain`` and ``kind`` on."""
    return f"city/{_slug('city', city)}/events/{Domain(domain).value}/{_slug('kind', kind)}"


def event_filter(city: str | None = None) -> str:
    """Subscription filter matching every analytics event of ``city`` (or of all cities)."""
    return f"city/{'+' if city is None else _slug('city', city)}/events/#"


def deadletter_topic(city: str) -> str:
    """Topic the ingester republishes refused messages on."""
    return f"city/{_slug('city', city)}/deadletter"


def city_of(topic: str) -> str | None:
    """The city segment of a ``city/{city}/...`` topic as it stands (not checked as a
    slug), or None for a topic of another shape."""
    parts = topic.split("/", 2)
    return parts[1] if len(parts) > 2 and parts[0] == "city" else None


def parse_telemetry(topic: str) -> TelemetryTopic:
    """Parse a telemetry topic, or raise :class:`DecodeError` (reason ``topic``)."""
    m = _TELEMETRY_RE.match(topic)
    if m is None:
        raise DecodeError(
            "topic",
            f"topic {topic[:200]!r} is not city/{{city}}/{{domain}}/{{gateway}}[/{{device}}] "
            f"with domain one of {_DOMAINS.replace('|', ', ')} and slug identifiers",
        )
    return TelemetryTopic(m["city"], Domain(m["domain"]), m["gateway"], m["device"])
