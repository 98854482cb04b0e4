"""Simplify the boundaries of the 34 provincial units into the small GeoJSON the map draws.

    python node/dashboard/data/simplify_map.py SOURCE.geojson [--tolerance 0.01]

Each ring is simplified with the Douglas-Peucker algorithm (tolerance in
degrees) and its coordinates rounded to 3 decimals (about 100 m). Rings that
would fall below four points keep four of their own points, so small
islands, among them the Hoàng Sa and Trường Sa archipelagos, stay on the map.
The output, `vn_provinces_34_2025.simplified.geojson`, is written beside this
script; SOURCES.md names the source and its licence.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

OUTPUT = Path(__file__).with_name("vn_provinces_34_2025.simplified.geojson")


def _distance(point: list[float], start: list[float], end: list[float]) -> float:
    """Return the distance from `point` to the segment start-end, in degrees."""
    dx, dy = end[0] - start[0], end[1] - start[1]
    if dx == 0 and dy == 0:
        return math.hypot(point[0] - start[0], point[1] - start[1])
    t = max(0.0, min(1.0, ((point[0] - start[0]) * dx + (point[1] - start[1]) * dy)
                     / (dx * dx + dy * dy)))
    return math.hypot(point[0] - start[0] - t * dx, point[1] - start[1] - t * dy)


def douglas_peucker(points: list[list[float]], tolerance: float) -> list[list[float]]:
    """Return the points of `points` that keep the line within `tolerance` of the original."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        farthest, distance = first, 0.0
        for index in range(first + 1, last):
            current = _distance(points[index], points[first], points[last])
            if current > distance:
                farthest, distance = index, current
        if distance > tolerance:
            keep[farthest] = True
            stack.extend([(first, farthest), (farthest, last)])
    return [point for point, kept in zip(points, keep) if kept]


def simplify_ring(ring: list[list[float]], tolerance: float) -> list[list[float]]:
    simplified = douglas_peucker(ring, tolerance)
    if len(simplified) < 4:
        step = max(1, (len(ring) - 1) // 3)
        simplified = ring[:-1:step][:3] + [ring[0]]
    return [[round(x, 3), round(y, 3)] for x, y in simplified]


def simplify(source: Path, tolerance: float) -> dict:
    data = json.loads(source.read_text(encoding="utf-8"))
    features = []
    for feature in data["features"]:
        geometry = feature["geometry"]
        polygons = (geometry["coordinates"] if geometry["type"] == "MultiPolygon"
                    else [geometry["coordinates"]])
        simplified = [[simplify_ring(ring, tolerance) for ring in polygon] for polygon in polygons]
        features.append({"type": "Feature",
                         "properties": {"ten_tinh": feature["properties"]["ten_tinh"]},
                         "geometry": {"type": "MultiPolygon", "coordinates": simplified}})
    return {"type": "FeatureCollection", "features": features}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="GeoJSON of the 34 provincial units")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="Douglas-Peucker tolerance in degrees (default 0.01, about 1 km)")
    args = parser.parse_args(argv)
    result = simplify(args.source, args.tolerance)
    OUTPUT.write_text(json.dumps(result, ensure_ascii=False, separators=(",", ":")) + "\n",
                      encoding="utf-8")
    points = sum(len(ring) for feature in result["features"]
                 for polygon in feature["geometry"]["coordinates"] for ring in polygon)
    print(f"wrote {OUTPUT.name}: {len(result['features'])} units, {points} points")
    return 0


if __name__ == "__main__":
    sys.exit(main())
