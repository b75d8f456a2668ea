"""The alarm, its lifecycle and what happens to it: the records the repository keeps and
the API shows.

Lifecycle::

    OPEN ──acknowledge──▶ ACKNOWLEDGED ──resolve──▶ RESOLVED ──close──▶ CLOSED
      └──────────────────────resolve──────────────────▲

A rule's condition clearing resolves its alarm when the rule says ``auto_resolve`` (by
``system``). While an alarm is OPEN or ACKNOWLEDGED it is *active*: one active alarm per
(rule, source), repeats update it. A RESOLVED alarm whose condition comes back stays
resolved; a new alarm opens.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ACTIVE", "Alarm", "AlarmFilter", "AuditEntry", "Conflict", "NotFound", "State"]


class State(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


ACTIVE = (State.OPEN, State.ACKNOWLEDGED)


class NotFound(LookupError):
    """No alarm (or silence) with that id."""


class Conflict(ValueError):
    """The change does not fit the alarm's state (acknowledging a resolved alarm)."""


@dataclass(frozen=True, slots=True)
class Alarm:
    id: str
    rule: str
    source: str
    state: State
    severity: str
    domain: str
    title: str
    device: str | None
    gateway: str | None
    district: str | None
    value: float | None
    detail: dict[str, Any]
    count: int
    condition_active: bool
    opened_at: float
    last_seen: float
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    resolved_at: float | None = None
    resolved_by: str | None = None
    closed_at: float | None = None
    assignee: str | None = None

    def json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing that happened to an alarm: ``actor`` is a user, ``system`` (the rules,
    the escalation clock) or ``api-token:<user>``."""

    alarm_id: str
    at: float
    actor: str
    action: str
    detail: dict[str, Any] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """What the API's list filters by; None: any."""

    state: tuple[State, ...] | None = None
    severity: str | None = None
    domain: str | None = None
    district: str | None = None
    device: str | None = None
    rule: str | None = None
    assignee: str | None = None
    since: float | None = None  # opened at or after
    until: float | None = None  # opened before
    limit: int = 100
    offset: int = 0
