"""Departments' response figures (the seed's e-Government transparency): per department
and month, alarms received, median and p90 time to acknowledge and to resolve,
escalations, and the alarms still open at the end of the period.

Read from the alarm store: an alarm counts for a department when the department was told
of its opening; times are from its opening. Months are the city's local calendar months.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from alerts.repository import AlarmRepository
from cityhub.config.pack import CityPack
from cityhub.stats import percentile

__all__ = ["HEADER", "ResponseRow", "build_report", "write_report"]

HEADER = ["department", "month", "received", "acknowledged", "ack_median_min",
          "ack_p90_min", "resolved", "resolve_median_min", "resolve_p90_min", "escalations",
          "open_at_end"]


@dataclass(frozen=True)
class ResponseRow:
    department: str
    month: str
    received: int
    acknowledged: int
    ack_median_min: float | None
    ack_p90_min: float | None
    resolved: int
    resolve_median_min: float | None
    resolve_p90_min: float | None
    escalations: int
    open_at_end: int

    def cells(self) -> list[object]:
        return ["" if v is None else round(v, 1) if isinstance(v, float) else v
                for v in (self.department, self.month, self.received, self.acknowledged,
                          self.ack_median_min, self.ack_p90_min, self.resolved,
                          self.resolve_median_min, self.resolve_p90_min, self.escalations,
                          self.open_at_end)]


@dataclass(frozen=True)
class ResponseReport:
    city: str
    start: dt.datetime
    stop: dt.datetime
    rows: list[ResponseRow]
    names: dict[str, str]


def build_report(pack: CityPack, store: AlarmRepository, start: dt.datetime,
                 stop: dt.datetime) -> ResponseReport:
    """The figures of alarms opened in [start, stop)."""
    zone = ZoneInfo(pack.city.timezone)
    end = stop.timestamp()
    groups: dict[tuple[str, str], list[tuple[float, float | None, float | None, int]]] = {}
    for _aid, dept, opened, acked, resolved, _state, escalations in store.history(
            start.timestamp(), end):
        month = dt.datetime.fromtimestamp(opened, zone).strftime("%Y-%m")
        groups.setdefault((dept, month), []).append((opened, acked, resolved, escalations))
    rows = []
    for (dept, month), alarms in sorted(groups.items()):
        ack = [(a - o) / 60 for o, a, _, _ in alarms if a is not None and a < end]
        res = [(r - o) / 60 for o, _, r, _ in alarms if r is not None and r < end]
        rows.append(ResponseRow(
            dept, month, len(alarms), len(ack), percentile(ack, 0.5), percentile(ack, 0.9),
            len(res), percentile(res, 0.5), percentile(res, 0.9),
            sum(e for _, _, _, e in alarms),
            sum(1 for _, _, r, _ in alarms if r is None or r >= end)))
    names = {d.id: d.name for d in pack.alerts.departments}
    return ResponseReport(pack.city.id, start, stop, rows, names)


def write_report(rep: ResponseReport, out: Path) -> list[Path]:
    """``response.csv`` and ``response.html`` in ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    table = out / "response.csv"
    with table.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(r.cells() for r in rep.rows)
    page = out / "response.html"
    page.write_text(_html(rep), encoding="utf-8")
    return [table, page]


def _html(rep: ResponseReport) -> str:
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    depts = sorted({r.department for r in rep.rows})
    figures = []
    for metric, title in (("received", "Alarms received"),
                          ("ack_median_min", "Median minutes to acknowledge"),
                          ("resolve_median_min", "Median minutes to resolve"),
                          ("escalations", "Escalations")):
        fig = go.Figure([go.Bar(name=rep.names.get(d, d),
                                x=[r.month for r in rep.rows if r.department == d],
                                y=[getattr(r, metric) for r in rep.rows if r.department == d])
                         for d in depts], layout={"barmode": "group"})
        figures.append((title, fig))
    head = "".join(f"<th>{html.escape(h)}</th>" for h in HEADER)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r.cells())
                   + "</tr>" for r in rep.rows)
    empty = "" if rep.rows else "<p>No alarm reached a department in this period.</p>"
    parts = [f"<h2>{html.escape(t)}</h2>" + fig.to_html(full_html=False,
                                                        include_plotlyjs=False)
             for t, fig in figures]
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{html.escape(rep.city)} response figures</title>"
            f"<script>{get_plotlyjs()}</script>"
            "<style>table{border-collapse:collapse}td,th{border:1px solid #999;"
            "padding:2px 6px}</style></head><body>"
            f"<h1>{html.escape(rep.city)}: department response, {rep.start.date()} to "
            f"{rep.stop.date()}</h1>{empty}<table><tr>{head}</tr>{body}</table>"
            + "".join(parts) + "</body></html>")
