"""Districts from a GeoJSON file of official boundaries (``cityhub city new --districts``).

A FeatureCollection of Polygon and MultiPolygon features, one per district (kecamatan),
in longitude/latitude (WGS 84, as RFC 7946 says GeoJSON is). Each feature becomes a
district of the pack:

- **name** from a property (``--name-property``; by default the first of ``name``,
  ``NAME``, ``nama``, ``WADMKC``, the kecamatan name in BIG / Ina-Geoportal data);
- **id** the slug of another property (``--id-property``, e.g. a BPS code) or of the
  name; an id used twice gets ``-2``, ``-3``... and a warning;
- **outline** the pack's ``[[lon, lat], ...]``: the exterior ring of the polygon (of a
  MultiPolygon its largest part; holes are dropped), without the closing vertex, reduced
  to at most ``max_vertices`` by Douglas-Peucker (the most significant vertices kept,
  most significant first, until the budget is spent) and rounded to 5 decimals (~1 m);
- **centroid** the area centroid of the whole geometry (every part, holes subtracted).

Areas and distances are planar in degrees (longitude scaled by the cosine of the
latitude for the simplification): for a district a few kilometres across the error is far
below what a command-centre map shows.

Every bad input is a :class:`~cityhub.errors.ConfigError` naming the file, the feature
(``features[3]``) and what is wrong.
"""

from __future__ import annotations

import dataclasses
import heapq
import json
import math
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["NAME_PROPERTIES", "ImportedDistrict", "ImportedDistricts", "area_centroid",
           "read_districts", "simplify_ring", "slugify"]

# Tried in order when no --name-property is given.
NAME_PROPERTIES = ("name", "NAME", "nama", "WADMKC")
MAX_VERTICES = 200
SLUG_MAX = 63  # cityhub.topics.SLUG: [a-z0-9][a-z0-9_-]{0,62}
_DECIMALS = 5

Pt = tuple[float, float]  # (lon, lat)


@dataclasses.dataclass(frozen=True)
class ImportedDistrict:
    """One feature as a district of the pack."""

    id: str
    name: str
    centroid: Pt  # (lon, lat)
    outline: tuple[Pt, ...]
    area: float  # square degrees, for weighting
    feature: int  # index in the file's features
    parts: int  # polygons in the geometry (a MultiPolygon's)
    vertices: int  # of the ring the outline came from, before simplification
    name_from: str  # the property the name came from
    note: str = ""  # the duplicate id, said in the pack beside the district


@dataclasses.dataclass
class ImportedDistricts:
    """The districts of one GeoJSON file, and what the import warns about."""

    source: str
    name_property: str | None  # None: the defaults, per feature
    id_property: str | None
    max_vertices: int
    districts: list[ImportedDistrict] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    def location(self) -> Pt:
        """The area centroid of all the districts together (lon, lat)."""
        total = sum(d.area for d in self.districts)
        return (sum(d.centroid[0] * d.area for d in self.districts) / total,
                sum(d.centroid[1] * d.area for d in self.districts) / total)


class _Bad(Exception):
    """One problem with one feature: its key path below the feature, and what."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


def slugify(text: str) -> str:
    """``'Bogor Utara'`` -> ``'bogor-utara'``; accents dropped, anything but letters,
    digits and ``_`` becomes ``-``; at most 63 characters; ``''`` if nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_]+", "-", ascii_text.lower()).strip("-_")
    return slug[:SLUG_MAX].rstrip("-_")


def _ring_area_centroid(ring: Sequence[Pt]) -> tuple[float, Pt]:
    """Signed area (shoelace) and area centroid of a ring (closed or not)."""
    a = cx = cy = 0.0
    x0, y0 = ring[0]  # shifted to the first vertex: no cancellation at 107 degrees
    for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True):
        x1, y1, x2, y2 = x1 - x0, y1 - y0, x2 - x0, y2 - y0
        cross = x1 * y2 - x2 * y1
        a += cross
        cx += (x1 + x2) * cross
        cy += (y1 + y2) * cross
    a /= 2
    if a == 0:
        return 0.0, (x0, y0)
    return a, (x0 + cx / (6 * a), y0 + cy / (6 * a))


def area_centroid(polygons: Sequence[Sequence[Sequence[Pt]]]) -> tuple[float, Pt]:
    """Area and area centroid (lon, lat) of polygons given as rings (the exterior first,
    then holes, which are subtracted); (0, first vertex) when there is no area."""
    total = sx = sy = 0.0
    for rings in polygons:
        for k, ring in enumerate(rings):
            a, (x, y) = _ring_area_centroid(ring)
            a = abs(a) if k == 0 else -abs(a)
            total += a
            sx += a * x
            sy += a * y
    if total <= 0:
        return 0.0, polygons[0][0][0]
    return total, (sx / total, sy / total)


def _seg_distance(p: Pt, a: Pt, b: Pt) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / n))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def simplify_ring(ring: Sequence[Pt], max_vertices: int) -> list[Pt]:
    """An open ring (no closing vertex) reduced to at most ``max_vertices`` vertices by
    Douglas-Peucker with a budget: starting from the first vertex and the one farthest
    from it, the vertex farthest from the outline kept so far is added, then the next
    farthest, until the budget is spent. Order is kept."""
    n = len(ring)
    if n <= max_vertices:
        return list(ring)
    scale = math.cos(math.radians(sum(p[1] for p in ring) / n))
    pts = [(x * scale, y) for x, y in ring]
    far = max(range(1, n), key=lambda i: math.dist(pts[0], pts[i]))
    kept = {0, far}
    heap: list[tuple[float, int, int, int]] = []

    def push(i: int, j: int) -> None:  # the segment i -> j (j may wrap past the end)
        if j - i < 2:
            return
        a, b = pts[i % n], pts[j % n]
        d, k = max((_seg_distance(pts[m % n], a, b), m) for m in range(i + 1, j))
        heapq.heappush(heap, (-d, k, i, j))

    push(0, far)
    push(far, n)
    while heap and len(kept) < max_vertices:
        _, k, i, j = heapq.heappop(heap)
        kept.add(k % n)
        push(i, k)
        push(k, j)
    return [ring[i] for i in sorted(kept)]


def _position(value: Any, path: str) -> Pt:
    if not isinstance(value, list) or len(value) < 2 or not all(
            isinstance(c, int | float) and not isinstance(c, bool) for c in value[:2]):
        raise _Bad(path, f"a position is [longitude, latitude] (got {value!r:.60})")
    lon, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180
            and -90 <= lat <= 90):
        raise _Bad(path, f"[{value[0]}, {value[1]}] is not longitude/latitude in degrees: "
                   "GeoJSON is WGS 84 (RFC 7946); reproject the file, e.g. "
                   "ogr2ogr -f GeoJSON -t_srs EPSG:4326 out.geojson in.geojson")
    return lon, lat


def _ring(value: Any, path: str) -> list[Pt]:
    if not isinstance(value, list):
        raise _Bad(path, "a linear ring is a list of positions")
    ring = [_position(p, f"{path}[{i}]") for i, p in enumerate(value)]
    if ring and ring[0] == ring[-1]:
        ring.pop()  # GeoJSON closes its rings; the pack's outlines do not
    ring = [p for i, p in enumerate(ring) if i == 0 or p != ring[i - 1]]
    if len(ring) < 3:
        raise _Bad(path, f"a ring needs at least 3 distinct vertices (has {len(ring)})")
    return ring


def _polygon(value: Any, path: str) -> list[list[Pt]]:
    if not isinstance(value, list) or not value:
        raise _Bad(path, "a polygon is a non-empty list of rings (the exterior first)")
    return [_ring(r, f"{path}[{i}]") for i, r in enumerate(value)]


def _polygons(geometry: Any) -> list[list[list[Pt]]]:
    if not isinstance(geometry, dict):
        raise _Bad("geometry", "the feature has no geometry (null): every district needs "
                   "its boundary")
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        return [_polygon(coords, "geometry.coordinates")]
    if kind == "MultiPolygon":
        if not isinstance(coords, list) or not coords:
            raise _Bad("geometry.coordinates", "a MultiPolygon is a non-empty list of "
                       "polygons")
        return [_polygon(p, f"geometry.coordinates[{i}]") for i, p in enumerate(coords)]
    raise _Bad("geometry.type", f"{kind!r}: a district's geometry is a Polygon or a "
               "MultiPolygon")


def _property(props: dict[str, Any], key: str, what: str) -> str:
    value = props.get(key)
    text = "" if value is None or isinstance(value, dict | list) else str(value).strip()
    if not text:
        got = "missing" if key not in props else f"{value!r:.40}"
        raise _Bad(f"properties.{key}", f"no {what} ({got}); the feature's properties: "
                   f"{', '.join(props) or 'none'}")
    return text


def _name(props: dict[str, Any], name_property: str | None) -> tuple[str, str]:
    """The district's name, and the property it came from."""
    if name_property is not None:
        return _property(props, name_property, "district name"), name_property
    for key in NAME_PROPERTIES:
        value = props.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            return str(value).strip(), key
    raise _Bad("properties", f"no district name: none of {', '.join(NAME_PROPERTIES)}; the "
               f"feature's properties: {', '.join(props) or 'none'} (give --name-property)")


def _district(feature: Any, index: int, name_property: str | None,
              id_property: str | None, max_vertices: int) -> ImportedDistrict:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise _Bad("type", "not a GeoJSON Feature")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise _Bad("properties", "must be an object")
    name, name_from = _name(props, name_property)
    raw_id = name if id_property is None else _property(props, id_property, "district id")
    slug = slugify(raw_id)
    if not slug:
        where = "name" if id_property is None else f"properties.{id_property}"
        raise _Bad(where, f"{raw_id!r} gives no id (no letters or digits); give "
                   "--id-property")
    polygons = _polygons(feature.get("geometry"))
    area, centroid = area_centroid(polygons)
    if area <= 0:
        raise _Bad("geometry.coordinates", "the boundary encloses no area")
    largest = max(polygons, key=lambda rings: abs(_ring_area_centroid(rings[0])[0]))[0]
    outline = tuple((round(x, _DECIMALS), round(y, _DECIMALS))
                    for x, y in simplify_ring(largest, max_vertices))
    return ImportedDistrict(
        id=slug, name=name, centroid=(round(centroid[0], _DECIMALS),
                                      round(centroid[1], _DECIMALS)),
        outline=outline, area=area, feature=index, parts=len(polygons),
        vertices=len(largest), name_from=name_from)


def _fail(source: str, path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(source, path, message)])


def _crs_problem(doc: dict[str, Any]) -> str | None:
    """The legacy ``crs`` member (GeoJSON 2008) naming something else than lon/lat WGS 84."""
    crs = doc.get("crs")
    if crs is None:
        return None
    name = str((crs.get("properties") or {}).get("name", "")) if isinstance(crs, dict) else ""
    if name.endswith(("CRS84", ":4326", "::4326")):
        return None
    return (f"coordinates in {name or crs!r}: GeoJSON is longitude/latitude in WGS 84 "
            "(RFC 7946); reproject the file, e.g. "
            "ogr2ogr -f GeoJSON -t_srs EPSG:4326 out.geojson in.geojson")


def read_districts(path: str | Path, *, name_property: str | None = None,
                   id_property: str | None = None,
                   max_vertices: int = MAX_VERTICES) -> ImportedDistricts:
    """The districts of a GeoJSON FeatureCollection; a :class:`ConfigError` naming the
    file, the feature and what is wrong, for every feature that cannot be one (all of
    them, not just the first)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as e:
        raise _fail(source, "", f"cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise _fail(source, "", f"not UTF-8 text: {e}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError([ConfigProblem(source, "", f"not JSON: {e.msg} (column {e.colno})",
                                         e.lineno)]) from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise _fail(source, "type", f"not a GeoJSON FeatureCollection (type: {kind!r}); "
                    "expected one Polygon or MultiPolygon feature per district")
    if (why := _crs_problem(doc)) is not None:
        raise _fail(source, "crs", why)
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise _fail(source, "features", "no features: expected one per district")
    out = ImportedDistricts(source, name_property, id_property, max_vertices)
    problems: list[ConfigProblem] = []
    seen: dict[str, int] = {}
    for i, feature in enumerate(features):
        try:
            d = _district(feature, i, name_property, id_property, max_vertices)
        except _Bad as e:
            problems.append(ConfigProblem(source, f"features[{i}].{e.path}", e.message))
            continue
        if d.id in seen:
            first = seen[d.id]
            n = 2
            while (new := f"{d.id[:SLUG_MAX - 1 - len(str(n))]}-{n}") in seen:
                n += 1
            note = f"id {d.id!r} is also features[{first}]'s; renamed {new!r}"
            out.warnings.append(f"{source}: features[{i}] ({d.name}): {note}")
            d = dataclasses.replace(d, id=new, note=note)
        seen[d.id] = i
        out.districts.append(d)
    if problems:
        raise ConfigError(problems)
    return out
