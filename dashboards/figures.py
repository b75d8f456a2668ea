"""Pure figure builders: data in, Plotly figure out. No Dash, no I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from cityhub.config.pack import CityPack
from dashboards.i18n import Lang
from dashboards.status import SensorState
from dashboards.wording import detail, label

__all__ = ["DARK_STYLE", "DOMAINS", "DOMAIN_SIZE", "Kpis", "city_map", "district_labels",
           "districts_geojson", "domain_name", "kpis", "sensor_markers", "view_of"]

# Plotly's "white-bg" style needs no tiles and no network; a dark polygon under the
# districts makes it a dark map. (A custom style object without glyphs makes Plotly's
# MapLibre fail with "Map error", so the built-in style is used.)
DARK_STYLE = "white-bg"
_DARK_FILL = "#0b1220"
_WORLD: dict[str, Any] = {"type": "Feature", "properties": {}, "geometry": {
    "type": "Polygon", "coordinates": [[[-180, -85], [180, -85], [180, 85], [-180, 85],
                                        [-180, -85]]]}}
DOMAINS = ("flood", "traffic", "rain", "lighting")
DOMAIN_SIZE = {"traffic": 11, "flood": 16, "lighting": 8, "rain": 12}


def districts_geojson(pack: CityPack) -> dict[str, Any]:
    """The pack's district outlines as a GeoJSON FeatureCollection."""
    features = []
    for d in pack.districts:
        if not d.outline:
            continue
        ring = [list(p) for p in d.outline]
        ring.append(ring[0])
        features.append({"type": "Feature", "id": d.id,
                         "properties": {"id": d.id, "name": d.name},
                         "geometry": {"type": "Polygon", "coordinates": [ring]}})
    return {"type": "FeatureCollection", "features": features}


def view_of(pack: CityPack, width_px: int = 1000, height_px: int = 600
            ) -> tuple[dict[str, float], float]:
    """Centre and zoom that fit the city's districts (or its sensors) in a map of the
    given size (MapLibre: the world is 512 * 2**zoom pixels wide)."""
    lons = [p[0] for d in pack.districts for p in d.outline]
    lats = [p[1] for d in pack.districts for p in d.outline]
    for _, s in pack.sensors.values():
        lons.append(s.location.lon)
        lats.append(s.location.lat)
    if not lons:
        return {"lat": pack.city.location.lat, "lon": pack.city.location.lon}, 12.0
    span_lon = max(max(lons) - min(lons), 1e-3)
    span_lat = max(max(lats) - min(lats), 1e-3)
    z_lon = math.log2(0.9 * width_px * 360 / (512 * span_lon))
    z_lat = math.log2(0.9 * height_px * 360 / (512 * span_lat * 1.0 / math.cos(
        math.radians(sum(lats) / len(lats)))))
    centre = {"lat": (max(lats) + min(lats)) / 2, "lon": (max(lons) + min(lons)) / 2}
    return centre, round(min(z_lon, z_lat, 16.0), 2)


def district_labels(pack: CityPack, *, text: bool = False) -> go.Choroplethmap | go.Scattermap:
    """The districts, named: as text at the middle of each outline when ``text`` (MapLibre
    fetches the glyphs from the style's font server, so only where the network allows),
    else as a transparent area that names the district under the pointer (no network)."""
    named = [d for d in pack.districts if d.outline]
    if text:
        return go.Scattermap(
            lat=[sum(p[1] for p in d.outline) / len(d.outline) for d in named],
            lon=[sum(p[0] for p in d.outline) / len(d.outline) for d in named],
            mode="text", text=[d.name for d in named], name="districts", showlegend=False,
            textfont={"color": "rgba(203, 213, 225, 0.85)", "size": 13}, hoverinfo="skip")
    return go.Choroplethmap(
        geojson=districts_geojson(pack), featureidkey="properties.id",
        locations=[d.id for d in named], z=[0] * len(named), text=[d.name for d in named],
        colorscale=[[0, "rgba(56, 189, 248, 0.06)"], [1, "rgba(56, 189, 248, 0.06)"]],
        showscale=False, marker={"line": {"width": 0}}, name="districts", showlegend=False,
        hovertemplate="%{text}<extra></extra>")


def city_map(pack: CityPack, states: Sequence[SensorState], lang: Lang, *,
             tiles: str | None = None, attribution: str | None = None) -> dict[str, Any]:
    """Sensors over district outlines and names, coloured by state; one trace per
    domain (its legend entry says the marker size), the newest states' words in the
    hover. With ``tiles`` (an XYZ URL template) a street basemap lies under the
    outlines, and the district names are written on the map; where the tiles cannot load,
    the dark outline map shows through. Without tiles nothing is fetched from the network:
    a district names itself under the pointer.

    The figure is plain data (``{"data": [...], "layout": {...}}``, which ``dcc.Graph``
    takes as it is): the district trace and the layout are built, and checked, by Plotly;
    the markers are not, since checking 5,000 of them took 200 ms of every page load."""
    fig = go.Figure()
    fig.add_trace(district_labels(pack, text=bool(tiles)))
    geo = districts_geojson(pack)
    centre, zoom = view_of(pack)
    base: list[dict[str, Any]] = [{"sourcetype": "geojson", "source": _WORLD, "type": "fill",
                                   "below": "traces", "color": _DARK_FILL}]
    if tiles:
        base.append({"sourcetype": "raster", "source": [tiles], "below": "traces",
                     "opacity": 0.55, "sourceattribution": attribution or ""})
    fig.update_layout(
        map={"style": DARK_STYLE, "zoom": zoom, "center": centre, "layers": [
            *base,
            {"sourcetype": "geojson", "source": geo, "type": "line", "below": "traces",
             "color": "rgba(148, 163, 184, 0.7)", "line": {"width": 1}},
        ]},
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor=_DARK_FILL,
        font={"color": "#e5e7eb", "size": 15}, uirevision=pack.city.id,
        legend={"bgcolor": "rgba(11,18,32,0.8)", "x": 0.01, "y": 0.99,
                "title": {"text": lang.gettext("Marker size: kind of sensor")}},
    )
    out: dict[str, Any] = fig.to_plotly_json()
    out["data"] += [sensor_markers(domain, [s for s in states if s.domain == domain], lang)
                    for domain in DOMAINS]
    # the legend says what a marker's size means, in one neutral colour (Plotly would
    # take each domain's first sensor's colour); colours are the page's legend
    out["data"] += [{"type": "scattermap", "mode": "markers", "lat": [None], "lon": [None],
                     "name": domain_name(lang, domain), "hoverinfo": "skip",
                     "marker": {"size": DOMAIN_SIZE[domain], "color": "#cbd5e1"}}
                    for domain in DOMAINS]
    return out


def sensor_markers(domain: str, group: Sequence[SensorState], lang: Lang) -> dict[str, Any]:
    """One domain's sensors as a marker trace, as plain data: what :func:`city_map` draws
    and a refresh patches in place (without Plotly's validation of a trace object, which
    would cost more than the rest of a refresh at 5,000 sensors)."""
    labels = {code: label(lang, code) for code in {s.code for s in group}}
    return {
        "type": "scattermap", "mode": "markers",
        "lat": [s.lat for s in group], "lon": [s.lon for s in group],
        "name": domain_name(lang, domain), "ids": [s.id for s in group], "showlegend": False,
        "marker": {"size": DOMAIN_SIZE[domain], "color": [s.colour for s in group]},
        "customdata": [[s.name, labels[s.code], detail(lang, s.state), s.district]
                       for s in group],
        "hovertemplate": "<b>%{customdata[0]}</b><br>%{customdata[1]}: %{customdata[2]}"
                         "<br>%{customdata[3]}<extra></extra>"}


def domain_name(lang: Lang, domain: str) -> str:
    _ = lang.gettext
    return {"traffic": _("traffic"), "flood": _("flood gauges"), "rain": _("rain gauges"),
            "lighting": _("street lights")}[domain]


@dataclass(frozen=True, slots=True)
class Kpis:
    """Headline numbers of the overview (numbers and codes; the page words them)."""

    reporting: int
    sensors: int
    congested: int
    worst_flood: str | None  # a siaga_* code, None when no gauge reports
    lamps_lit: int
    lamps: int
    lamp_faults: int
    heavy_rain: int
    offline: int


def kpis(states: Sequence[SensorState]) -> Kpis:
    """Headline numbers for the overview."""
    codes = Counter(s.code for s in states)
    flood = [s for s in states if s.code.startswith("siaga_")]
    return Kpis(
        reporting=sum(1 for s in states if s.code not in ("no_data", "offline")),
        sensors=len(states),
        congested=codes["los_e"] + codes["los_f"] + codes["incident"],
        worst_flood=max(flood, key=lambda s: s.severity).code if flood else None,
        lamps_lit=codes["lamp_on"] + codes["lamp_dimmed"],
        lamps=sum(1 for s in states if s.domain == "lighting"),
        lamp_faults=codes["lamp_fault"], heavy_rain=codes["rain_heavy"]
        + codes["rain_very_heavy"], offline=codes["offline"])
