"""Subscriptions a department adds at run time (through the API), besides those of the
city pack: kept in the alarm store, routed like the pack's (:mod:`alerts.routing`).

A stored subscription is a :class:`~cityhub.config.alerting.Subscription` (the pack's own
model, so it means exactly what one in the pack means) with its department, who added it
and when. :func:`subscription_json` is the one shape the API answers for both kinds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cityhub.config.alerting import Subscription

__all__ = ["StoredSubscription", "subscription_json"]


@dataclass(frozen=True, slots=True)
class StoredSubscription:
    """A subscription added at run time: its id (what removing it takes), the department
    whose it is, what it matches, who added it (an API actor) and when (UNIX s)."""

    id: int
    department: str
    subscription: Subscription
    created_by: str
    created_at: float

    def json(self) -> dict[str, Any]:
        return subscription_json(self.department, self.subscription, self)


def subscription_json(department: str, sub: Subscription,
                      stored: StoredSubscription | None = None) -> dict[str, Any]:
    """A subscription as the API shows it: ``source`` "pack" (no id, no author) or "api".
    Empty ``districts`` or ``rules``: every one."""
    return {"id": stored.id if stored else None, "department": department,
            "domains": [d.value for d in sub.domains], "districts": list(sub.districts),
            "min_severity": sub.min_severity, "rules": list(sub.rules),
            "source": "api" if stored else "pack",
            "created_by": stored.created_by if stored else None,
            "created_at": stored.created_at if stored else None}
