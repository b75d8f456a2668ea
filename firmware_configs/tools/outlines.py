"""Simple district outlines from centroids: Voronoi cells clipped to a bounding box.

For a city that has no official boundary GeoJSON at hand: every point of a cell is closer
to its district's centroid than to any other, which is a fair first picture for a
command-centre map. Replace with official outlines when the city provides them.

    python firmware_configs/tools/outlines.py firmware_configs/bandung/city.yaml

prints, per district id, an ``outline:`` list of (lon, lat) vertices.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

Pt = tuple[float, float]


def _clip(poly: list[Pt], a: Pt, b: Pt) -> list[Pt]:
    """Keep the half of ``poly`` closer to ``a`` than to ``b`` (Sutherland-Hodgman)."""
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2
    nx, ny = b[0] - a[0], b[1] - a[1]

    def side(p: Pt) -> float:
        return (p[0] - mx) * nx + (p[1] - my) * ny

    out: list[Pt] = []
    for i, p in enumerate(poly):
        q = poly[(i + 1) % len(poly)]
        sp, sq = side(p), side(q)
        if sp <= 0:
            out.append(p)
        if (sp < 0 < sq) or (sq < 0 < sp):
            t = sp / (sp - sq)
            out.append((p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])))
    return out


def voronoi_cells(points: dict[str, Pt], margin: float = 0.015) -> dict[str, list[Pt]]:
    """District id -> cell polygon of (lon, lat), clipped to the points' box plus margin."""
    xs = [p[0] for p in points.values()]
    ys = [p[1] for p in points.values()]
    box = [(min(xs) - margin, min(ys) - margin), (max(xs) + margin, min(ys) - margin),
           (max(xs) + margin, max(ys) + margin), (min(xs) - margin, max(ys) + margin)]
    cells = {}
    for k, a in points.items():
        poly = box
        for j, b in points.items():
            if j != k:
                poly = _clip(poly, a, b)
        cells[k] = [(round(x, 4), round(y, 4)) for x, y in poly]
    return cells


def main(path: str) -> None:
    doc = yaml.safe_load(Path(path).read_text())
    districts = doc["districts"]
    pts = {d["id"]: (d["centroid"]["lon"], d["centroid"]["lat"]) for d in districts}
    for k, cell in voronoi_cells(pts).items():
        print(f"{k}: {[list(p) for p in cell]}")


if __name__ == "__main__":
    main(sys.argv[1])
