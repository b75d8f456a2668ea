"""``cityhub city new ID --from BASE``: a new city's pack, an overlay of an existing one
(the core's own command, like ``config check``: it needs nothing but the core).

It writes the overlay (``city.yaml`` extending the base, the city's districts from a
GeoJSON file of official boundaries, what it inherits listed as comments) and an empty
``gateways/`` directory with an example, loads the result to prove it valid, and says
what to do next. docs/replicate-a-city.md walks through the rest.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cityhub.config.geojson import MAX_VERTICES, NAME_PROPERTIES, read_districts
from cityhub.config.scaffold import NewCity, Scaffold, scaffold
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.topics import SLUG

__all__ = ["new", "register"]

_SLUG_RE = re.compile(f"^{SLUG}$")


def _bad(option: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem("command line", option, message)])


def _spec(args: argparse.Namespace) -> NewCity:
    if not _SLUG_RE.match(args.id):
        raise _bad("ID", f"{args.id!r} is not a city id: 1 to 63 lower-case letters, digits, "
                   "'-' or '_', starting with a letter or digit (e.g. depok, kota-depok)")
    if (args.lat is None) != (args.lon is None):
        raise _bad("--lat/--lon", "give both or neither")
    location = None
    if args.lat is not None:
        if not (-90 <= args.lat <= 90 and -180 <= args.lon <= 180):
            raise _bad("--lat/--lon", f"({args.lat}, {args.lon}) is not a latitude and a "
                       "longitude in degrees")
        location = (args.lat, args.lon)
    if args.timezone is not None:
        try:
            ZoneInfo(args.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise _bad("--timezone", f"unknown IANA time zone {args.timezone!r} (e.g. "
                       "Asia/Jakarta, Asia/Makassar, Asia/Jayapura)") from None
    if args.max_vertices < 3:
        raise _bad("--max-vertices", "an outline needs at least 3 vertices")
    if args.districts is None and location is None:
        raise _bad("--lat/--lon", "give the city's location (--lat --lon), or --districts "
                   "FILE.geojson to take it from its districts")
    districts = None
    if args.districts is not None:
        districts = read_districts(args.districts, name_property=args.name_property,
                                   id_property=args.id_property,
                                   max_vertices=args.max_vertices)
    name = args.name or args.id.replace("-", " ").replace("_", " ").title()
    out = Path(args.out) if args.out else Path("firmware_configs") / args.id
    return NewCity(id=args.id, name=name, base=args.base, out=out, location=location,
                   timezone=args.timezone, districts=districts)


def _report(done: Scaffold, spec: NewCity) -> None:
    pack, out = done.pack, done.out
    if spec.districts is None:
        where = "1 placeholder district (replace it: --districts, or edit city.yaml)"
    else:
        where = f"{len(pack.districts)} districts from {spec.districts.source}"
    print(f"cityhub city new: wrote {out}/, a pack extending {done.base_label}\n"
          f"  extends:  {done.extends}\n"
          f"  city:     {pack.city.id}: {pack.city.name} ({pack.city.timezone}), {where}\n"
          f"  inherits: {len(pack.profiles)} profiles, {len(pack.alerts.rules)} alert rules, "
          "the street-lighting policy (listed in city.yaml)\n"
          f"  files:    {', '.join(str(f.relative_to(out)) for f in done.files)}\n"
          f"  check:    OK, loads as a valid pack (no gateways yet)\n"
          "Next:\n"
          f"  1. add the city's gateways, one file each in {out}/gateways/ "
          "(gateways/README.md; gw-example.yaml.example)\n"
          f"  2. cityhub config check {out}\n"
          f"  3. cityhub demo --city {out}    (simulates the gateways' sensors: it needs at "
          "least one)\n"
          "  4. the city's own departments, rivers and corridors: the comments in city.yaml; "
          "docs/replicate-a-city.md")


def new(args: argparse.Namespace) -> int:
    """Scaffold the pack; exit status 2 for bad input (each problem said)."""
    try:
        spec = _spec(args)
        if spec.districts is not None:
            for w in spec.districts.warnings:
                print(f"cityhub city new: warning: {w}", file=sys.stderr)
        done = scaffold(spec)
    except ConfigError as e:
        for p in e.problems:
            print(f"cityhub city new: {p}", file=sys.stderr)
        return 2
    _report(done, spec)
    sys.stdout.flush()
    return 0


def register(sub: Any) -> None:
    """Add ``cityhub city`` to the ``cityhub`` command."""
    p = sub.add_parser("city", help="replicate a city: a new city pack from an existing one",
                       description="Replicate a city: start a new city's pack as an overlay "
                       "of an existing one (docs/replicate-a-city.md).")
    csub = p.add_subparsers(dest="city_command", metavar="SUBCOMMAND", required=True)
    c = csub.add_parser(
        "new", help="scaffold a new city's pack as an overlay of a base pack",
        description="Write a new city's pack into --out (default firmware_configs/ID): "
        "city.yaml extending the base pack (its profiles, alert rules and lighting policy "
        "inherited, and listed there as comments), the city's districts imported from a "
        "GeoJSON file of official boundaries (or one placeholder district), and an empty "
        "gateways/ directory with an example. The pack is loaded to prove it valid before "
        "it is put in place; an existing --out is never overwritten. Exit status 2 on "
        "bad input, each problem with file and what.")
    c.add_argument("id", metavar="ID", help="the new city's id, a slug (e.g. depok)")
    c.add_argument("--from", dest="base", required=True, metavar="BASE",
                   help="the base pack: a shipped pack's name (bandung, bogor) or a pack "
                   "directory")
    c.add_argument("--name", help="the city's name (e.g. 'Kota Depok'); default: from ID")
    c.add_argument("--out", metavar="DIR", help="the new pack's directory (must not exist); "
                   "default: firmware_configs/ID")
    c.add_argument("--districts", metavar="FILE.geojson",
                   help="a GeoJSON FeatureCollection of the districts' boundaries (Polygon "
                   "or MultiPolygon features, longitude/latitude WGS 84); default: one "
                   "placeholder district around --lat --lon")
    c.add_argument("--name-property", metavar="NAME",
                   help="the feature property holding a district's name; default: the "
                   f"first of {', '.join(NAME_PROPERTIES)}")
    c.add_argument("--id-property", metavar="ID",
                   help="the feature property a district's id is the slug of (e.g. a BPS "
                   "code); default: the slug of its name")
    c.add_argument("--max-vertices", type=int, default=MAX_VERTICES, metavar="N",
                   help="simplify longer outlines to N vertices (Douglas-Peucker); default "
                   f"{MAX_VERTICES}")
    c.add_argument("--timezone", help="an IANA time zone (Asia/Jakarta, Asia/Makassar, "
                   "Asia/Jayapura); default: the base's")
    c.add_argument("--lat", type=float, help="the city's latitude; default: the area "
                   "centroid of its districts")
    c.add_argument("--lon", type=float, help="the city's longitude")
    c.set_defaults(handler=new)
