"""A time range to look at: a preset (the last hour .. the last year) or a custom start
and end, kept in the page's URL query so a view can be shared::

    /sensor/tfc-1?range=24h
    /sensor/tfc-1?start=2026-11-30T06:00&end=2026-11-30T18:00

Custom times are written in the city's local time (``YYYY-MM-DDTHH:MM``, seconds where
they are not zero); an explicit offset (``+07:00``, ``Z``) is accepted too. The parse and
format helpers are pure; :func:`picker` draws the control for a page (ids from the page's
:class:`~dashboards.ids.Ids`), and the page wires it to its ``dcc.Location`` with
:func:`search_of`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboards.i18n import Lang
from dashboards.ids import Ids

__all__ = ["DEFAULT", "PRESETS", "TimeRange", "format_local", "parse_query", "parse_when",
           "picker", "preset_label", "search_of"]

#: preset -> seconds back from now, in the order the picker shows them
PRESETS: dict[str, int] = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400,
                           "30d": 30 * 86400, "1y": 365 * 86400}
DEFAULT = "24h"
_NS = 1_000_000_000
_OFFSET_AS_SPACE = re.compile(r" (\d\d:?\d\d)$")  # "+07:00" after a form-encoding round


@dataclass(frozen=True, slots=True)
class TimeRange:
    """[start, stop) in nanoseconds since the epoch; ``preset`` when it is one."""

    start_ns: int
    stop_ns: int
    preset: str | None = None

    def __post_init__(self) -> None:
        if self.stop_ns <= self.start_ns:
            raise ValueError("a time range ends after it starts")

    @property
    def span_s(self) -> float:
        return (self.stop_ns - self.start_ns) / _NS

    @classmethod
    def last(cls, preset: str, now_s: float) -> TimeRange:
        """The preset's span, ending now."""
        stop = int(now_s * _NS)
        return cls(stop - PRESETS[preset] * _NS, stop, preset)


def parse_when(text: str, tz: str) -> dt.datetime:
    """An ISO 8601 date or time; without an offset it is the city's local time. Raises
    ValueError for anything else."""
    s = _OFFSET_AS_SPACE.sub(r"+\1", text.strip())
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    t = dt.datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=ZoneInfo(tz))


def format_local(seconds: float, tz: str) -> str:
    """A time as the city's local ``YYYY-MM-DDTHH:MM`` (``:SS`` when not zero): what a
    custom range's URL and the picker's inputs hold."""
    t = dt.datetime.fromtimestamp(seconds, ZoneInfo(tz))
    return t.strftime("%Y-%m-%dT%H:%M:%S" if t.second else "%Y-%m-%dT%H:%M")


def parse_query(query: Mapping[str, object], now_s: float, tz: str
                ) -> tuple[TimeRange, bool]:
    """The range a URL query asks for (``range=`` a preset, or ``start=`` and ``end=``;
    ``end`` defaults to now), and whether it was understood: anything else gives the
    default preset and False."""
    preset, start, end = query.get("range"), query.get("start"), query.get("end")
    default = TimeRange.last(DEFAULT, now_s)
    if isinstance(preset, str) and start is None and end is None:
        return (TimeRange.last(preset, now_s), True) if preset in PRESETS else (default, False)
    if preset is None and isinstance(start, str):
        try:
            t0 = parse_when(start, tz).timestamp()
            t1 = parse_when(end, tz).timestamp() if isinstance(end, str) and end else now_s
            return TimeRange(int(t0 * _NS), int(t1 * _NS)), True
        except ValueError:
            return default, False
    return default, preset is None and start is None and end is None


def search_of(preset: str | None, start: str | None = None, end: str | None = None,
              tz: str = "UTC") -> str:
    """The URL query (``?...``) for a preset, or for a custom start and end (local
    times as the picker's inputs give them; checked and normalised, ValueError when
    they are not times or the end is not after the start)."""
    if preset:
        if preset not in PRESETS:
            raise ValueError(f"unknown range {preset!r}")
        return "?" + urlencode({"range": preset})
    if not start or not end:
        raise ValueError("a custom range needs a start and an end")
    t0, t1 = parse_when(start, tz).timestamp(), parse_when(end, tz).timestamp()
    if t1 <= t0:
        raise ValueError("the end is not after the start")
    return "?" + urlencode({"start": format_local(t0, tz), "end": format_local(t1, tz)})


def preset_label(lang: Lang, preset: str) -> str:
    _ = lang.gettext
    return {"1h": _("1 h"), "6h": _("6 h"), "24h": _("24 h"), "7d": _("7 d"),
            "30d": _("30 d"), "1y": _("1 y")}[preset]


def picker(ids: Ids, current: TimeRange, lang: Lang) -> html.Div:
    """The control: a button per preset, and a custom start and end with an "Apply"
    button. Ids: ``range-preset`` (value: the preset, None for a custom range),
    ``range-start``, ``range-end``, ``range-apply``, ``range-error``."""
    _ = lang.gettext
    return html.Div(className="range-picker", style={
        "display": "flex", "flexWrap": "wrap", "gap": "12px", "alignItems": "center"},
        children=[
        dbc.RadioItems(
            id=ids("range-preset"), value=current.preset, inline=True,
            className="btn-group", inputClassName="btn-check",
            labelClassName="btn btn-outline-info btn-sm",
            labelCheckedClassName="active",
            options=[{"label": preset_label(lang, p), "value": p} for p in PRESETS]),
        html.Label(_("From"), htmlFor=ids("range-start")),
        dcc.Input(id=ids("range-start"), type="text", debounce=True,
                  placeholder="YYYY-MM-DDTHH:MM",
                  value=format_local(current.start_ns / _NS, lang.timezone)[:16],
                  className="form-control form-control-sm", style={"width": "12em"}),
        html.Label(_("to"), htmlFor=ids("range-end")),
        dcc.Input(id=ids("range-end"), type="text", debounce=True,
                  placeholder="YYYY-MM-DDTHH:MM",
                  value=format_local(current.stop_ns / _NS, lang.timezone)[:16],
                  className="form-control form-control-sm", style={"width": "12em"}),
        html.Button(_("Apply"), id=ids("range-apply"), n_clicks=0,
                    className="btn btn-sm btn-info"),
        html.Span(id=ids("range-error"), className="text-warning"),
    ])
