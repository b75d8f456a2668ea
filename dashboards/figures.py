"""Pure figure builders: data in, Plotly figure out. No Dash, no I/O."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from cityhub.config.pack import CityPack
from dashboards.status import SensorState

__all__ = ["DARK_STYLE", "city_map", "districts_geojson", "kpis", "view_of"]

# Plotly's "white-bg" style needs no tiles and no network; a dark polygon under the
# districts makes it a dark map. (A custom style object without glyphs makes Plotly's
# MapLibre fail with "Map error", so the built-in style is used.)
DARK_STYLE = "white-bg"
_DARK_FILL = "#0b1220"
_WORLD: dict[str, Any] = {"type": "Feature", "properties": {}, "geometry": {
    "type": "Polygon", "coordinates": [[[-180, -85], [180, -85], [180, 85], [-180, 85],
                                        [-180, -85]]]}}
_DOMAIN_SIZE = {"traffic": 11, "flood": 16, "lighting": 8, "rain": 12}


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


def city_map(pack: CityPack, states: Sequence[SensorState], *,
             style: str | None = None) -> go.Figure:
    """Sensors over district outlines, coloured by state; one trace per domain."""
    fig = go.Figure()
    for domain in ("flood", "traffic", "rain", "lighting"):
        group = [s for s in states if s.domain == domain]
        if not group:
            continue
        fig.add_trace(go.Scattermap(
            lat=[s.lat for s in group], lon=[s.lon for s in group], mode="markers",
            name=domain, ids=[s.id for s in group],
            marker={"size": _DOMAIN_SIZE[domain], "color": [s.colour for s in group]},
            customdata=[[s.name, s.label, s.detail, s.district] for s in group],
            hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}: %{customdata[2]}"
                          "<br>%{customdata[3]}<extra></extra>",
        ))
    geo = districts_geojson(pack)
    centre, zoom = view_of(pack)
    fig.update_layout(
        map={"style": style or DARK_STYLE, "zoom": zoom, "center": centre,
             "layers": [
                 *([] if style else [{"sourcetype": "geojson", "source": _WORLD,
                                      "type": "fill", "below": "traces",
                                      "color": _DARK_FILL}]),
                 {"sourcetype": "geojson", "source": geo, "type": "fill", "below": "traces",
                  "color": "rgba(56, 189, 248, 0.06)"},
                 {"sourcetype": "geojson", "source": geo, "type": "line", "below": "traces",
                  "color": "rgba(148, 163, 184, 0.7)", "line": {"width": 1}},
             ]},
        margin={"l": 0, "r": 0, "t": 0, "b": 0}, paper_bgcolor="#0b1220",
        font={"color": "#e5e7eb", "size": 16}, uirevision=pack.city.id,
        legend={"bgcolor": "rgba(11,18,32,0.8)", "x": 0.01, "y": 0.99},
    )
    return fig


def kpis(states: Sequence[SensorState]) -> dict[str, str]:
    """Headline numbers for the overview."""
    labels = Counter(s.label for s in states)
    reporting = sum(1 for s in states if s.label != "no data")
    flood = [s for s in states if s.domain == "flood" and s.label.startswith("Siaga")]
    worst = max(flood, key=lambda s: s.severity).label if flood else "no data"
    lamps = [s for s in states if s.domain == "lighting"]
    return {
        "reporting": f"{reporting}/{len(states)}",
        "congested": str(labels["LOS E"] + labels["LOS F"] + labels["incident"]),
        "flood": worst,
        "lamps_on": f"{labels['lamp on'] + labels['lamp dimmed']}/{len(lamps)}",
        "lamp_faults": str(labels["lamp fault"]),
        "heavy_rain": str(labels["rain heavy"] + labels["rain very heavy"]),
    }
