"""Notifications: what the outbox holds, written in the same transaction as the alarm
change that makes them, then sent and marked.

A notification is one alarm change (opened, raised, escalated, resolved) for one contact
of one department, or for the common MQTT feed (department ``*``). Its id is a hash of
what it is about, so writing it twice (a redelivered reading after a crash) writes it
once. Several due for one contact go out together as one message, the *group*, whose id
(the ``webhook-id``) is fixed before the first attempt, so a retry after a restart sends
the same message with the same id.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

__all__ = ["COMMON", "Attempt", "Intent", "Notification", "NotificationState",
           "notification_id"]

COMMON = "*"  # the department of the common feed city/{city}/alerts/{domain}/{severity}


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # gave up: a permanent error, the endpoint disabled, too old
    SUPPRESSED = "suppressed"  # a silence or quiet hours: never sent


@dataclass(frozen=True, slots=True)
class Intent:
    """A notification the router asks for (see :mod:`alerts.routing`)."""

    department: str
    contact: str
    level: int
    change: str
    suppressed: str | None = None  # why it is not sent (kept and counted)
    delay_s: float = 0.0  # grouping window


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    alarm_id: str
    department: str
    contact: str
    level: int
    change: str
    state: NotificationState
    reason: str | None
    created_at: float
    due_at: float
    attempts: int
    group_id: str | None
    sent_at: float | None

    def json(self) -> dict[str, Any]:
        return {**asdict(self), "state": self.state.value}


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at sending a group: its channel, target and result."""

    group_id: str
    department: str
    contact: str
    channel: str
    target: str
    at: float
    ok: bool
    detail: str

    def json(self) -> dict[str, Any]:
        return asdict(self)


def notification_id(alarm_id: str, change: str, department: str, contact: str, seq: int
                    ) -> str:
    """Stable id of one change of one alarm for one contact (``seq``: which occurrence of
    that change, e.g. the alarm's count when raised)."""
    key = f"{alarm_id}/{change}/{seq}/{department}/{contact}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]
