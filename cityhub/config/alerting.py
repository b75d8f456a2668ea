"""Alert rules and the departments they reach, in a city pack (``alerts:``).

::

    alerts:
      rules:
        - {id: flood-siaga, kind: siaga, at: 3}               # a gauge at Siaga III or worse
        - {id: road-crawling, kind: threshold, domain: traffic, field: averageVehicleSpeed,
           below: 10, clear: 15, for_s: 600}
        - {id: river-rising, kind: rate, domain: flood, field: currentLevel, rise_per_h: 0.5}
        - {id: sensor-silent, kind: nodata, intervals: 5}
        - {id: gateway-offline, kind: offline, for_s: 120}
        - {id: road-incident, kind: event, domain: traffic, events: [incident]}
      departments:
        - id: bpbd
          name: BPBD Kota Bandung
          language: id
          subscriptions: [{domains: [flood, rain], min_severity: warning}]
          contacts:
            - {id: posko, channel: webhook, url_env: BPBD_WEBHOOK_URL,
               secret_env: BPBD_WEBHOOK_SECRET}
            - {id: kepala, channel: email, to: [kepala@bpbd.example], level: 1}
          escalation_s: [900]        # level 1 when not acknowledged within 15 min

Rules and departments are lists of items with ids, so an overlay adjusts one by its id
(``- {id: flood-siaga, at: 2}``) and adds its own. Secrets (webhook URLs and keys, chat
URLs) come from the environment, named here, never written in the pack. docs/alerts.md
gives every key.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, field_validator, model_validator

from cityhub.config.common import PackModel, Slug, minute_of_day
from cityhub.fields import DOMAINS, Domain, Kind
from cityhub.levels import SEVERITIES

if TYPE_CHECKING:
    from cityhub.config.pack import CityPack

__all__ = [
    "AlertRule",
    "AlertsPolicy",
    "AppriseContact",
    "Contact",
    "Department",
    "EmailContact",
    "EventRule",
    "MqttContact",
    "NoDataRule",
    "OfflineRule",
    "RateRule",
    "SiagaRule",
    "Subscription",
    "ThresholdRule",
    "WebhookContact",
    "check_alerts",
    "severity_rank",
]

Severity = Literal["info", "warning", "critical"]
EnvName = Annotated[str, Field(pattern="^[A-Z_][A-Z0-9_]*$")]


def severity_rank(severity: str) -> int:
    """0 (info) .. 2 (critical)."""
    return SEVERITIES.index(severity)


class _Rule(PackModel):
    id: Slug
    name: str | None = Field(None, description="what operators read; default: the id")
    severity: Severity = "warning"
    devices: tuple[Slug, ...] = Field((), description="only these devices (default: all "
                                      "of the rule's domain)")
    districts: tuple[Slug, ...] = Field((), description="only devices in these districts")
    auto_resolve: bool = Field(True, description="resolve the alarm when the condition "
                               "clears (else an operator resolves it)")
    enabled: bool = True


class ThresholdRule(_Rule):
    """A numeric field beyond a level for ``for_s``; clears back past ``clear``
    (hysteresis: a value wavering around the level opens one alarm, not fifty)."""

    kind: Literal["threshold"]
    domain: Domain
    field: str
    above: float | None = None
    below: float | None = None
    clear: float = Field(description="the level the value must come back past to clear")
    for_s: float = Field(0.0, ge=0, le=86_400, description="how long it must stay beyond")

    @model_validator(mode="after")
    def _one_side(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above / below")
        if self.above is not None and not self.clear <= self.above:
            raise ValueError(f"clear ({self.clear}) must be at or under above "
                             f"({self.above})")
        if self.below is not None and not self.clear >= self.below:
            raise ValueError(f"clear ({self.clear}) must be at or over below ({self.below})")
        return self


class RateRule(_Rule):
    """A numeric field changing faster than a rate (per hour) over ``window_s``."""

    kind: Literal["rate"]
    domain: Domain
    field: str
    rise_per_h: float | None = Field(None, gt=0)
    fall_per_h: float | None = Field(None, gt=0)
    window_s: float = Field(900.0, ge=60, le=86_400)
    clear_ratio: float = Field(0.5, gt=0, lt=1, description="clears once the rate is back "
                               "under this share of the limit")

    @model_validator(mode="after")
    def _one_side(self) -> RateRule:
        if (self.rise_per_h is None) == (self.fall_per_h is None):
            raise ValueError("give exactly one of rise_per_h / fall_per_h")
        return self


def _siaga_severities() -> dict[Literal[3, 2, 1], Severity]:
    return {3: "warning", 2: "critical", 1: "critical"}


class SiagaRule(_Rule):
    """A flood gauge's Siaga level (from its thresholds in the pack) at ``at`` or worse.
    The alarm's severity follows the level: ``severities`` maps Siaga 3, 2 and 1."""

    kind: Literal["siaga"]
    at: Literal[3, 2, 1] = 3
    severities: dict[Literal[3, 2, 1], Severity] = Field(
        default_factory=_siaga_severities)
    clear_m: float = Field(0.05, ge=0, description="back under the level by this much to "
                           "clear")


class NoDataRule(_Rule):
    """No reading from a device for ``intervals`` times its ``interval_s`` (and at least
    ``min_s``)."""

    kind: Literal["nodata"]
    domains: tuple[Domain, ...] = tuple(Domain)
    intervals: float = Field(5.0, ge=1)
    min_s: float = Field(300.0, ge=0)


class OfflineRule(_Rule):
    """A gateway's retained status says ``offline`` (its last will) for ``for_s``."""

    kind: Literal["offline"]
    for_s: float = Field(60.0, ge=0)
    gateways: tuple[Slug, ...] = Field((), description="only these gateways")


class EventRule(_Rule):
    """Events the analytics service publishes (``city/{city}/events/{domain}/{kind}``):
    an alarm per episode's device, resolved when the episode closes. ``severity`` is the
    event's own unless ``override`` is set."""

    kind: Literal["event"]
    domain: Domain | None = Field(None, description="events of this domain (default: "
                                  "every domain's, e.g. stuck sensors)")
    events: tuple[Slug, ...] = Field((), description="event kinds (default: all)")
    min_severity: Severity = "info"
    override: Severity | None = None
    expire_s: float = Field(6 * 3600.0, gt=0, description="an event that opens and closes "
                            "at once (a Siaga change, a flood forecast) keeps its alarm "
                            "this long after the last one, then resolves it (with "
                            "auto_resolve)")


AlertRule = Annotated[ThresholdRule | RateRule | SiagaRule | NoDataRule | OfflineRule
                      | EventRule, Field(discriminator="kind")]


class Subscription(PackModel):
    """What a department wants to hear about."""

    domains: tuple[Domain, ...] = tuple(Domain)
    districts: tuple[Slug, ...] = Field((), description="default: every district")
    min_severity: Severity = "warning"
    rules: tuple[Slug, ...] = Field((), description="only these rules (default: all)")

    def matches(self, *, domain: str, district: str | None, rule: str, severity: str,
                gateway_domains: Collection[str] = ()) -> bool:
        """Whether an alarm of ``domain`` in ``district`` from ``rule`` at ``severity``
        concerns this subscription. A gateway's own alarm (domain ``gateway``) concerns it
        when it names the rule, or covers a domain the gateway's sensors serve
        (``gateway_domains``). The alerts service routes by this; the dashboards' response
        figures count by it."""
        domains = {d.value for d in self.domains}
        domain_ok = domain in domains if domain != "gateway" \
            else rule in self.rules or bool(set(gateway_domains) & domains)
        return (domain_ok and (not self.districts or district in self.districts)
                and (not self.rules or rule in self.rules)
                and severity_rank(severity) >= severity_rank(self.min_severity))


class _Contact(PackModel):
    id: Slug
    level: int = Field(0, ge=0, le=5, description="0: told at once; n: told when the alarm "
                       "is still unacknowledged after the department's escalation_s[n-1]")
    language: Literal["id", "en"] | None = Field(None, description="default: the "
                                                 "department's")


class WebhookContact(_Contact):
    """An HTTP endpoint, signed per the Standard Webhooks spec."""

    channel: Literal["webhook"]
    url: str | None = Field(None, description="or url_env")
    url_env: EnvName | None = None
    secret_env: EnvName = Field(description="variable holding the whsec_... signing secret")

    @model_validator(mode="after")
    def _one_url(self) -> WebhookContact:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give url or url_env")
        return self


class EmailContact(_Contact):
    channel: Literal["email"]
    to: tuple[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")], ...] = Field(min_length=1)


class AppriseContact(_Contact):
    """Any Apprise URL (Telegram, WhatsApp, Slack, ...): it holds the chat's token, so
    it comes from the environment."""

    channel: Literal["apprise"]
    url_env: EnvName


class MqttContact(_Contact):
    """The department's own topic ``city/{city}/notify/{department}`` (its grouped
    notifications), besides the common ``city/{city}/alerts/{domain}/{severity}``."""

    channel: Literal["mqtt"]


Contact = Annotated[WebhookContact | EmailContact | AppriseContact | MqttContact,
                    Field(discriminator="channel")]


class QuietHours(PackModel):
    """Local hours in which only alarms of ``min_severity`` or worse are sent; the others
    are held back (counted, visible) and not sent later."""

    start: str
    end: str
    min_severity: Severity = "critical"

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, v: str) -> str:
        minute_of_day(v)
        return v


class Department(PackModel):
    id: Slug
    name: str
    language: Literal["id", "en"] = "id"
    subscriptions: tuple[Subscription, ...] = Field(min_length=1)
    contacts: tuple[Contact, ...] = ()
    escalation_s: tuple[float, ...] = Field((), description="after how long unacknowledged "
                                            "each next level of contacts is told")
    quiet_hours: QuietHours | None = None
    group_s: float = Field(10.0, ge=0, le=3600, description="alarms opened within this "
                           "window go out as one notification")
    max_per_hour: int = Field(30, ge=1, description="notifications per contact per hour; "
                              "past it, alarms wait for the next one (grouped)")

    @field_validator("escalation_s")
    @classmethod
    def _increasing(cls, v: tuple[float, ...]) -> tuple[float, ...]:
        if any(x <= 0 for x in v) or list(v) != sorted(v):
            raise ValueError("escalation_s must be positive and increasing")
        return v


class AlertsPolicy(PackModel):
    rules: tuple[AlertRule, ...] = ()
    departments: tuple[Department, ...] = ()
    dashboard_url: str | None = Field(None, description="base URL of the command centre, "
                                      "for links in messages (default: the alerts "
                                      "service's setting)")


def _numeric(domain: Domain, name: str) -> str | None:
    spec = DOMAINS[domain].get(name)
    if spec is None:
        return f"{domain.value} has no field {name!r}; it has {', '.join(DOMAINS[domain])}"
    if spec.kind is not Kind.NUMBER:
        return f"{domain.value}.{name} is not a number"
    return None


def check_alerts(pack: CityPack) -> list[tuple[tuple[str | int, ...], str]]:
    """References of the rules and departments: fields, devices, districts, levels."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    districts = {d.id for d in pack.districts}
    gateways = {g.id for g in pack.gateways}
    rules = {r.id for r in pack.alerts.rules}
    for i, rule in enumerate(pack.alerts.rules):
        where: tuple[str | int, ...] = ("alerts", "rules", i)
        if isinstance(rule, ThresholdRule | RateRule) \
                and (why := _numeric(rule.domain, rule.field)) is not None:
            problems.append(((*where, "field"), why))
        for k, d in enumerate(rule.devices):
            if d not in pack.sensors:
                problems.append(((*where, "devices", k), f"{d!r} is not a sensor of the pack"))
        for k, d in enumerate(rule.districts):
            if d not in districts:
                problems.append(((*where, "districts", k), f"unknown district {d!r}"))
        if isinstance(rule, OfflineRule):
            for k, g in enumerate(rule.gateways):
                if g not in gateways:
                    problems.append(((*where, "gateways", k), f"unknown gateway {g!r}"))
    for i, dept in enumerate(pack.alerts.departments):
        where = ("alerts", "departments", i)
        for j, sub in enumerate(dept.subscriptions):
            for k, d in enumerate(sub.districts):
                if d not in districts:
                    problems.append(((*where, "subscriptions", j, "districts", k),
                                     f"unknown district {d!r}"))
            for k, r in enumerate(sub.rules):
                if r not in rules:
                    problems.append(((*where, "subscriptions", j, "rules", k),
                                     f"unknown rule {r!r}"))
        for j, c in enumerate(dept.contacts):
            if c.level > len(dept.escalation_s):
                problems.append(((*where, "contacts", j, "level"),
                                 f"level {c.level} needs {c.level} escalation_s entries; "
                                 f"the department has {len(dept.escalation_s)}"))
    return problems
