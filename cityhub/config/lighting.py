"""A city's street-lighting policy in its pack: when lamps dim, and how far.

::

    lighting:
      dimming:
        - {start: "00:00", end: "05:00", level: 0.6}   # local time; may run past midnight
      tolerance: 0.1

Outside every step a lamp that is on runs at full output (level 1.0). The analytics check
each lamp's reported dimming level (``illuminanceLevel``) against this schedule at night
(``dimming`` events); the simulator dims by it.
"""

from __future__ import annotations

from pydantic import Field, field_validator

from cityhub.config.common import PackModel, minute_of_day, within

__all__ = ["DimmingStep", "LightingPolicy"]

class DimmingStep(PackModel):
    """Lamps run at ``level`` of full output from ``start`` to ``end`` (local time)."""

    start: str = Field(description="HH:MM, local time")
    end: str = Field(description="HH:MM, local time; before start: past midnight")
    level: float = Field(gt=0, le=1, description="share of full output")

    @field_validator("start", "end")
    @classmethod
    def _time_of_day(cls, v: str) -> str:
        minute_of_day(v)
        return v

    def covers(self, minute: float) -> bool:
        return within(self.start, self.end, minute)


class LightingPolicy(PackModel):
    """When lamps dim (``dimming``), and how far off the schedule a lamp may be."""

    dimming: tuple[DimmingStep, ...] = ()
    tolerance: float = Field(0.1, ge=0, lt=1, description="allowed |level - scheduled|")

    def level_at(self, minute: float) -> float:
        """The scheduled level at a local time of day (minutes since midnight)."""
        return next((s.level for s in self.dimming if s.covers(minute)), 1.0)
