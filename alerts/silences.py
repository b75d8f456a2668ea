"""Silences (maintenance windows): while one matches an alarm, its notifications are kept
as suppressed and counted, never sent. The alarm itself still opens, shows and resolves:
a silence mutes the pager, not the command centre."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Silence"]


@dataclass(frozen=True, slots=True)
class Silence:
    """Matches an alarm when every field given matches (at least one is given)."""

    id: str
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    device: str | None = None
    gateway: str | None = None
    district: str | None = None
    rule: str | None = None
    created_at: float = 0.0

    def __post_init__(self) -> None:
        if not any((self.device, self.gateway, self.district, self.rule)):
            raise ValueError("a silence names at least one of device, gateway, district, rule")
        if self.ends_at <= self.starts_at:
            raise ValueError("a silence ends after it starts")

    def matches(self, *, device: str | None, gateway: str | None, district: str | None,
                rule: str, at: float) -> bool:
        return (self.starts_at <= at < self.ends_at
                and (self.device is None or self.device == device)
                and (self.gateway is None or self.gateway == gateway)
                and (self.district is None or self.district == district)
                and (self.rule is None or self.rule == rule))

    def json(self) -> dict[str, Any]:
        return asdict(self)
