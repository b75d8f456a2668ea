"""Every chart's data as CSV: the points of line and bar traces, a heatmap's cells."""

from __future__ import annotations

import csv
import io
from urllib.parse import unquote

import plotly.graph_objects as go

from dashboards.chartdata import chart, figure_csv
from dashboards.i18n import Lang


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_lines_bars_and_heatmaps() -> None:
    fig = go.Figure([go.Scatter(name="level", x=["10:00", "10:05"], y=[1.5, 1.75]),
                     go.Bar(name="lamps", x=[3, 4], y=["north", "south"], orientation="h"),
                     go.Heatmap(name="speed", x=[0, 1], y=["north", "south"],
                                z=[[40.0, None], [25.5, 30.0]])])
    assert rows(figure_csv(fig)) == [
        ["trace", "x", "y", "value"],
        ["level", "10:00", "1.5", ""], ["level", "10:05", "1.75", ""],
        ["lamps", "3", "north", ""], ["lamps", "4", "south", ""],
        ["speed", "0", "north", "40.0"], ["speed", "1", "north", ""],
        ["speed", "0", "south", "25.5"], ["speed", "1", "south", "30.0"]]
    assert rows(figure_csv({"data": []})) == [["trace", "x", "y", "value"]]


def test_the_link_carries_the_same_csv() -> None:
    fig = go.Figure([go.Scatter(name="a, b", x=[1], y=[2])])  # a comma in a name: quoted
    link = chart(fig, "levels", Lang("id", "Asia/Jakarta")).children[1]
    assert link.download == "levels.csv"
    assert unquote(link.href.split(",", 1)[1]) == figure_csv(fig)
    assert rows(figure_csv(fig))[1] == ["a, b", "1", "2", ""]
