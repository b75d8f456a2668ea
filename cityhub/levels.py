"""Status classes the whole hub agrees on, from one reading and the sensor's thresholds.

These are the scalar, obviously-correct definitions; analytics kernels compute the same
over arrays and are tested against these.
"""

from __future__ import annotations

__all__ = ["LOS_BANDS", "SEVERITIES", "level_of_service", "rain_class", "siaga"]

# Severity of an analytics event (and of the alerts made of it), least to most severe.
SEVERITIES = ("info", "warning", "critical")

# HCM urban street level of service by average speed as a share of free-flow speed.
LOS_BANDS = ((0.85, "A"), (0.67, "B"), (0.50, "C"), (0.40, "D"), (0.30, "E"))


def level_of_service(speed_kmh: float, free_flow_kmh: float) -> str:
    """Level of service A (free flow) .. F (breakdown)."""
    if free_flow_kmh <= 0:
        raise ValueError("free-flow speed must be positive")
    ratio = speed_kmh / free_flow_kmh
    for bound, grade in LOS_BANDS:
        if ratio > bound:
            return grade
    return "F"


def siaga(level_m: float, siaga_3: float, siaga_2: float, siaga_1: float) -> int:
    """Indonesian flood alert status: 4 (normal) down to 1 (danger).

    Siaga III begins at ``siaga_3``, II at ``siaga_2``, I at ``siaga_1`` (inclusive).
    """
    if level_m >= siaga_1:
        return 1
    if level_m >= siaga_2:
        return 2
    if level_m >= siaga_3:
        return 3
    return 4


def rain_class(rate_mm_h: float, heavy: float = 10.0, very_heavy: float = 20.0) -> str:
    """BMKG rain intensity class: none, light, moderate, heavy, very heavy."""
    if rate_mm_h <= 0:
        return "none"
    if rate_mm_h < 5:
        return "light"
    if rate_mm_h < heavy:
        return "moderate"
    if rate_mm_h < very_heavy:
        return "heavy"
    return "very heavy"
