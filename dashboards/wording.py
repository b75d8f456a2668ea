"""How a sensor's state (:class:`cityhub.levels.State`) is coloured and said, in the
user's language. The one place that turns state codes into words."""

from __future__ import annotations

from cityhub.levels import State
from dashboards.i18n import Lang

__all__ = ["COLOURS", "detail", "label"]

COLOURS = {
    "no_data": "#6b7280", "offline": "#4b5563",
    "los_a": "#22c55e", "los_b": "#84cc16", "los_c": "#eab308", "los_d": "#f97316",
    "los_e": "#ef4444", "los_f": "#991b1b", "incident": "#7f1d1d",
    "siaga_4": "#22c55e", "siaga_3": "#eab308", "siaga_2": "#f97316", "siaga_1": "#dc2626",
    "lamp_on": "#facc15", "lamp_dimmed": "#ca8a04", "lamp_off": "#1e3a8a",
    "lamp_fault": "#dc2626",
    "rain_none": "#94a3b8", "rain_light": "#7dd3fc", "rain_moderate": "#38bdf8",
    "rain_heavy": "#2563eb", "rain_very_heavy": "#7c3aed",
}
_ROMAN = {"4": "IV", "3": "III", "2": "II", "1": "I"}


def label(lang: Lang, code: str) -> str:
    """The state's short name, e.g. "LOS E", "Siaga I", "lamp fault"."""
    _ = lang.gettext
    if code.startswith("los_"):
        return _("LOS {grade}", grade=code[-1].upper())
    if code.startswith("siaga_"):
        return f"Siaga {_ROMAN[code[-1]]}"  # the same in both languages
    return {
        "incident": _("incident"), "no_data": _("no data"), "offline": _("gateway offline"),
        "lamp_on": _("lamp on"), "lamp_dimmed": _("lamp dimmed"), "lamp_off": _("lamp off"),
        "lamp_fault": _("lamp fault"), "rain_none": _("no rain"),
        "rain_light": _("light rain"), "rain_moderate": _("moderate rain"),
        "rain_heavy": _("heavy rain"), "rain_very_heavy": _("very heavy rain"),
    }[code]


def _fault(lang: Lang, fault: str) -> str:
    _ = lang.gettext
    return {"day_burning": _("burning by day"), "dark_at_night": _("dark at night")
            }.get(fault, fault)


def detail(lang: Lang, state: State) -> str:
    """One line of the values behind ``state``, e.g. "29 km/h, 12 veh/min"."""
    _, n, f = lang.gettext, lang.number, state.facts
    text = ""
    if "speed_kmh" in f:
        text = _("{speed} km/h, {flow} veh/min", speed=n(float(f["speed_kmh"])),
                 flow=n(float(f["flow_per_min"])))
        if state.code == "incident":
            text = _("incident: {what}", what=text)
    elif "level_m" in f:
        text = _("{level} m (Siaga I at {siaga_1} m)", level=n(float(f["level_m"]), 2),
                 siaga_1=n(float(f["siaga_1_m"]), 2))
    elif "power_w" in f:
        text = _("{power} W", power=n(float(f["power_w"])))
        if "fault" in f:
            text = f"{_fault(lang, str(f['fault']))}, {text}"
    elif "rate_mm_h" in f:
        text = _("{rate} mm/h", rate=n(float(f["rate_mm_h"]), 1))
    elif state.code == "no_data":
        text = _("stale") if f.get("stale") else _("silent")
    elif state.code == "offline":
        text = _("its gateway is offline")
    if f.get("stuck"):
        text += " " + _("(stuck: the same reading again and again)")
    return text
