"""Every chart's data as CSV, beside the chart: :func:`chart` puts a "Data (CSV)" link
under a figure, the CSV made when the figure is (a data: URL, so no callback and no
second query). Pure: :func:`figure_csv` is unit tested."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import plotly.graph_objects as go
from dash import dcc, html

from dashboards.i18n import Lang

__all__ = ["chart", "figure_csv"]


def _values(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, Mapping):  # plotly's typed-array form ({"dtype", "bdata"})
        return []
    return list(v)


def figure_csv(figure: go.Figure | Mapping[str, Any]) -> str:
    """The numbers a figure draws: ``trace, x, y, value`` per point (``value``: a
    heatmap's z; empty for other traces)."""
    data: Sequence[Any] = figure.data if isinstance(figure, go.Figure) else \
        figure.get("data", [])
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["trace", "x", "y", "value"])
    for t in data:
        trace = t.to_plotly_json() if hasattr(t, "to_plotly_json") else dict(t)
        name = trace.get("name") or trace.get("type", "")
        xs, ys, zs = (_values(trace.get(k)) for k in ("x", "y", "z"))
        if zs:  # a heatmap: one row per cell
            for i, row in enumerate(zs):
                for j, z in enumerate(row):
                    out.writerow([name, xs[j] if j < len(xs) else j,
                                  ys[i] if i < len(ys) else i, "" if z is None else z])
            continue
        for k in range(max(len(xs), len(ys))):
            out.writerow([name, xs[k] if k < len(xs) else "", ys[k] if k < len(ys) else "",
                          ""])
    return buf.getvalue()


def chart(figure: go.Figure, name: str, L: Lang, **graph: Any) -> html.Div:
    """``figure`` as a graph with a link that downloads its data as ``name.csv``."""
    href = "data:text/csv;charset=utf-8," + quote(figure_csv(figure))
    return html.Div(className="chart", children=[
        dcc.Graph(figure=figure, config={"displaylogo": False}, **graph),
        html.A(L.gettext("Data (CSV)"), href=href, download=f"{name}.csv",
               className="chart-csv"),
    ])
