"""The boundaries of the 34 provincial units as SVG paths, joined to the seeded party committees.

The boundaries are `data/vn_provinces_34_2025.simplified.geojson` (source and
licence in data/SOURCES.md). They are projected once per process with an
equirectangular projection scaled for latitude 16° N, the middle of the
mainland, which keeps the country's shape at this size without any tile server.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

MAP_FILE = Path(__file__).with_name("data") / "vn_provinces_34_2025.simplified.geojson"
PROVINCES_CSV = "vn_provinces_34_2025.csv"
# Pixels per degree of latitude, and the latitude whose scale the projection keeps.
SCALE = 40.0
REFERENCE_LATITUDE = 16.0
MARGIN = 5.0


class MapDataError(Exception):
    """The map boundaries and the province list do not join."""


@dataclass(frozen=True)
class ProvinceShape:
    """One provincial unit on the map."""

    gso_code: str
    name: str
    map_name: str
    path: str


@dataclass(frozen=True)
class ProvinceMap:
    shapes: tuple[ProvinceShape, ...]
    width: float
    height: float

    @property
    def view_box(self) -> str:
        return f"0 0 {self.width:.0f} {self.height:.0f}"


def _province_names() -> dict[str, tuple[str, str]]:
    """Return the GSO code and Vietnamese name of each unit, keyed by its name in the map file."""
    text = (resources.files("node.local_tasks") / "reference_data" / PROVINCES_CSV).read_text(
        encoding="utf-8")
    return {row["topojson_ten_tinh"]: (row["code_gso"], row["name_vi"])
            for row in csv.DictReader(text.splitlines())}


def _polygons(feature: dict) -> list:
    geometry = feature["geometry"]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    return [geometry["coordinates"]]


@lru_cache(maxsize=1)
def province_map() -> ProvinceMap:
    """Load, join and project the boundaries; raise MapDataError when a unit does not join."""
    features = json.loads(MAP_FILE.read_text(encoding="utf-8"))["features"]
    names = _province_names()
    unknown = sorted(f["properties"]["ten_tinh"] for f in features
                     if f["properties"]["ten_tinh"] not in names)
    if unknown or len(features) != len(names):
        raise MapDataError(f"map units {unknown} are not in {PROVINCES_CSV}; the map has "
                           f"{len(features)} units and the list {len(names)}")
    x_factor = math.cos(math.radians(REFERENCE_LATITUDE))
    points = [point for feature in features for polygon in _polygons(feature)
              for ring in polygon for point in ring]
    west = min(point[0] for point in points)
    north = max(point[1] for point in points)
    east = max(point[0] for point in points)
    south = min(point[1] for point in points)

    def project(lon: float, lat: float) -> str:
        x = MARGIN + (lon - west) * x_factor * SCALE
        y = MARGIN + (north - lat) * SCALE
        return f"{x:.1f},{y:.1f}"

    shapes = []
    for feature in features:
        map_name = feature["properties"]["ten_tinh"]
        rings = ["M" + "L".join(project(lon, lat) for lon, lat in ring[:-1]) + "Z"
                 for polygon in _polygons(feature) for ring in polygon]
        code, name = names[map_name]
        shapes.append(ProvinceShape(gso_code=code, name=name, map_name=map_name,
                                    path="".join(rings)))
    shapes.sort(key=lambda shape: shape.gso_code)
    return ProvinceMap(shapes=tuple(shapes),
                       width=2 * MARGIN + (east - west) * x_factor * SCALE,
                       height=2 * MARGIN + (north - south) * SCALE)
