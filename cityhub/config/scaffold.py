"""A new city's pack as an overlay of an existing one (``cityhub city new``).

Writes ``DIR/city.yaml`` (``extends:`` the base, the new ``city:``, its ``districts:
!replace``; what it inherits from the base listed as comments, with commented examples of
what it does not: departments, rivers, corridors), ``DIR/gateways/README.md`` and a
commented example gateway ``DIR/gateways/gw-example.yaml.example`` (not ``*.yaml``, so
the loader does not read it). The YAML is written as text, not dumped, so that its
comments and ``!replace`` are where a person reads them; every string is quoted when
plain style would not read back as the same string.

The pack is written beside its destination, loaded with :func:`load_pack` (so what is
written is a valid pack) and only then renamed into place; an existing destination is
never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cityhub.config.alerting import (
    AlertRule,
    EventRule,
    NoDataRule,
    OfflineRule,
    RateRule,
    SiagaRule,
    ThresholdRule,
)
from cityhub.config.geojson import ImportedDistricts
from cityhub.config.loader import load_pack, pack_dir, shipped_packs
from cityhub.config.pack import CityPack, Profile
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.fields import Domain

__all__ = ["NewCity", "Scaffold", "city_yaml", "extends_path", "scaffold", "yaml_str"]

# A placeholder district's half width, in degrees (about 2 km).
PLACEHOLDER_HALF_DEG = 0.02
_PLAIN = re.compile(r"^[A-Za-z0-9./][A-Za-z0-9 ._()'/&+-]*$")
# Per domain: the id prefix of the example gateway's sensor.
_EXAMPLE_PREFIX = {Domain.TRAFFIC: "tfc", Domain.FLOOD: "flood", Domain.LIGHTING: "lamp",
                   Domain.RAIN: "rain"}


@dataclass(frozen=True)
class NewCity:
    """What ``cityhub city new`` was asked for."""

    id: str
    name: str
    base: str  # a shipped pack's name or a pack directory
    out: Path
    location: tuple[float, float] | None = None  # (lat, lon); default: the districts'
    timezone: str | None = None  # default: the base's
    districts: ImportedDistricts | None = None  # None: one placeholder district


@dataclass
class Scaffold:
    """What was written, and the pack it loads as."""

    out: Path
    base_dir: Path
    base_label: str
    extends: str
    pack: CityPack
    files: list[Path] = field(default_factory=list)


def yaml_str(text: str) -> str:
    """``text`` as a YAML scalar that reads back as exactly ``text``: plain when that is
    safe (also inside a flow mapping), else double-quoted with YAML's escapes for
    anything but printable characters."""
    if _PLAIN.match(text) and text == text.strip() and _reads_back(text, text):
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and o != 0xFEFF:  # (a BOM reads as nothing)
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        elif o <= 0xFFFF:
            out.append(f"\\u{o:04x}")
        else:
            out.append(f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def _reads_back(scalar: str, text: str) -> bool:
    """Whether ``scalar`` reads as ``text`` as a block and as a flow mapping's value."""
    try:
        block: object = yaml.safe_load(f"k: {scalar}")
        flow: object = yaml.safe_load(f"{{k: {scalar}, j: 0}}")
    except yaml.YAMLError:
        return False
    return block == {"k": text} and flow == {"k": text, "j": 0}


def _num(x: float) -> str:
    """A float as YAML reads it back as a float (never ``1e-05``, which YAML 1.1 reads as
    a string)."""
    s = f"{x:.6f}".rstrip("0")
    return s + "0" if s.endswith(".") else s


def _comment(text: str) -> str:
    return " ".join(text.split())


def extends_path(out: Path, base_dir: Path) -> str:
    """``extends:`` for a pack in ``out``: the base's directory relative to ``out`` when
    the two share a directory above them (a repository's ``firmware_configs/``, an
    ``/etc/cityhub/``); else (nothing in common but ``/``) its absolute path, which does
    not break when the new pack is moved."""
    out_abs, base_abs = out.resolve(), base_dir.resolve()
    common = Path(os.path.commonpath([out_abs, base_abs]))
    if common == Path(common.anchor):
        return str(base_abs)
    return os.path.relpath(base_abs, out_abs)


def _is_shipped(base: str, base_dir: Path) -> bool:
    return "/" not in base and base_dir.resolve() == (shipped_packs() / base).resolve()


def _profile_line(name: str, p: Profile) -> tuple[str, str, str]:
    every = f"every {p.interval_s:g} s" + ("" if p.driver == "sim" else f", {p.driver}")
    limits = ", ".join(f"{k} {v:g}" for k, v in p.thresholds.items())
    return name, f"{p.domain.value}, {every}", limits


def _rule_what(r: AlertRule) -> str:
    if isinstance(r, SiagaRule):
        return f"Siaga {'I' * r.at} or worse"  # III, II or I
    if isinstance(r, ThresholdRule):
        side = f"above {r.above:g}" if r.above is not None else f"below {r.below:g}"
        held = f" for {r.for_s:g} s" if r.for_s else ""
        return f"{r.domain.value}.{r.field} {side}{held} (clears at {r.clear:g})"
    if isinstance(r, RateRule):
        rate = f"rising {r.rise_per_h:g}/h" if r.rise_per_h is not None \
            else f"falling {r.fall_per_h:g}/h"
        return f"{r.domain.value}.{r.field} {rate} over {r.window_s:g} s"
    if isinstance(r, NoDataRule):
        return f"silent for {r.intervals:g} intervals (at least {r.min_s:g} s)"
    if isinstance(r, OfflineRule):
        return f"gateway offline for {r.for_s:g} s"
    assert isinstance(r, EventRule)
    domain = f"{r.domain.value} " if r.domain is not None else ""
    return f"{domain}events {', '.join(r.events) or '(all)'}"


def _rule_line(r: AlertRule) -> tuple[str, str, str, str]:
    severity = "by level" if isinstance(r, SiagaRule) else (
        r.override if isinstance(r, EventRule) and r.override else
        "the event's" if isinstance(r, EventRule) else r.severity)
    name = f"{r.name}: " if r.name else ""
    off = " (disabled)" if not r.enabled else ""
    return r.id, r.kind, severity, _comment(f"{name}{_rule_what(r)}{off}")


def _columns(rows: Sequence[Sequence[str]], indent: str = "#   ", width: int = 96
             ) -> list[str]:
    """Comment lines in aligned columns; the last one wrapped under itself."""
    widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        head = indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False))
        pad = "#" + " " * (len(head) + 1)
        last = textwrap.wrap(row[-1], max(30, width - len(pad))) or [""]
        lines += [(head + "  " + last[0]).rstrip(), *(pad + more for more in last[1:])]
    return lines


def _own_references(r: AlertRule) -> list[str]:
    """The keys of an inherited rule that name the base city's own devices, districts
    or gateways (which the new pack does not have)."""
    keys = [k for k in ("devices", "districts") if getattr(r, k)]
    if isinstance(r, OfflineRule) and r.gateways:
        keys.append("gateways")
    return keys


def _outline(points: Sequence[tuple[float, float]], indent: str) -> list[str]:
    """``outline: [[lon, lat], ...]`` wrapped at four vertices a line."""
    cells = [f"[{_num(x)}, {_num(y)}]" for x, y in points]
    rows = [", ".join(cells[i:i + 4]) for i in range(0, len(cells), 4)]
    head = f"{indent}outline: ["
    pad = " " * len(head)
    return [(head if i == 0 else pad) + row + ("]" if i == len(rows) - 1 else ",")
            for i, row in enumerate(rows)]


def _districts(spec: NewCity, lat: float, lon: float) -> list[str]:
    lines: list[str] = []
    imported = spec.districts
    if imported is None:
        h = PLACEHOLDER_HALF_DEG
        lines += [
            "# A PLACEHOLDER: one square district around the city's location, so that the pack",
            "# loads. Replace it with the city's kecamatan before adding gateways (their",
            "# `district:` names one): `cityhub city new ... --districts FILE.geojson` imports",
            "# official boundaries (docs/replicate-a-city.md).",
            "districts: !replace",
            "  - id: placeholder",
            f"    name: {yaml_str('Placeholder (replace me)')}",
            f"    centroid: {{lat: {_num(lat)}, lon: {_num(lon)}}}",
            *_outline([(lon - h, lat - h), (lon + h, lat - h), (lon + h, lat + h),
                       (lon - h, lat + h)], "    "),
        ]
        return lines
    used = sorted({d.name_from for d in imported.districts})
    name_from = f"property {', '.join(used)}"
    id_from = (f"the slug of property {imported.id_property}" if imported.id_property
               else "the slug of the name")
    lines += [
        f"# The city's {len(imported.districts)} districts, imported by `cityhub city new` "
        "from",
        f"# {_comment(Path(imported.source).name)} (name: {name_from}; id: {id_from}).",
        "# Outlines: each feature's exterior ring, holes dropped (of a MultiPolygon, its",
        f"# largest part); a ring of more than {imported.max_vertices} vertices simplified "
        "to that many by",
        "# Douglas-Peucker (the most significant vertices kept), as the comments say where.",
        "# Centroids: the area centroid of each whole geometry. Coordinates rounded to 5",
        "# decimals (about a metre).",
        "districts: !replace",
    ]
    for d in imported.districts:
        notes = [f"features[{d.feature}]"]
        if d.parts > 1:
            notes.append(f"MultiPolygon of {d.parts} parts: the largest's outline")
        if d.vertices > len(d.outline):
            notes.append(f"{d.vertices} vertices simplified to {len(d.outline)}")
        if d.note:
            notes.append(d.note)
        lines += [
            f"  - id: {d.id}",
            f"    name: {yaml_str(d.name)}",
            f"    centroid: {{lat: {_num(d.centroid[1])}, lon: {_num(d.centroid[0])}}}",
            f"    # {_comment('; '.join(notes))}",
            *_outline(d.outline, "    "),
        ]
    return lines


def city_yaml(spec: NewCity, base: CityPack, base_label: str, extends: str,
              lat: float, lon: float) -> str:
    """The new pack's ``city.yaml``."""
    b = base.city.id
    out: list[str] = [
        f"# {_comment(spec.name)}: a city pack replicated from {base_label}.",
        "# Written by `cityhub city new`; docs/replicate-a-city.md walks through the rest",
        "# (gateways, `cityhub config check`, the demo, the broker, the services).",
        "#",
        "# Everything not written here is inherited from the base pack (docs/city-packs.md,",
        "# \"Overlays\"): its profiles, alert rules, street-lighting policy and broker",
        "# settings. Mappings merge key by key, lists of items with an id merge by id, and",
        "# `!replace` replaces a value whole. Never inherited: gateways (this pack's own",
        "# gateways/ directory), rivers, traffic corridors and the alert departments, which",
        "# name the base city's own sensors and offices.",
    ]
    if os.path.isabs(extends):
        out += [
            "#",
            f"# The base is {base_label}, by its absolute path: nothing above this",
            "# directory is shared with it. If the hub is reinstalled elsewhere (a new venv,",
            "# a Python upgrade), point `extends:` at the base's new place; for a shipped pack:",
            "#   python -c \"from cityhub.config import pack_dir; "
            f"print(pack_dir('{Path(extends).name}'))\"",
        ]
    else:
        out += ["#", f"# The base is {base_label}, relative to this directory."]
    out += [f"extends: {yaml_str(extends)}", "", "city:", f"  id: {spec.id}",
            f"  name: {yaml_str(spec.name)}",
            f"  location: {{lat: {_num(lat)}, lon: {_num(lon)}}}"]
    inherited = [f"country {base.city.country}"]
    if spec.timezone is not None:
        out.append(f"  timezone: {yaml_str(spec.timezone)}")
    else:
        inherited.append(f"timezone {base.city.timezone}")
    inherited.append(f"languages [{', '.join(base.city.languages)}]")
    out += [f"  # inherited from {b}: {', '.join(inherited)}",
            "  # (a timezone is an IANA zone; in Indonesia Asia/Jakarta (WIB), Asia/Makassar",
            "  # (WITA) or Asia/Jayapura (WIT))", ""]

    out += [f"# ---- Inherited from {b}, listed for reference " + "-" * max(0, 40 - len(b)),
            "#"]
    if base.profiles:
        traffic = [k for k, p in base.profiles.items() if p.domain is Domain.TRAFFIC]
        example = (["# name here, e.g. a lower free-flow speed for narrower streets:",
                    "#   profiles:", f"#     {traffic[0]}:",
                    "#       thresholds: {free_flow_speed: 40}"] if traffic else
                   ["# name here, e.g. a shorter sampling interval:", "#   profiles:",
                    f"#     {next(iter(base.profiles))}:", "#       interval_s: 30"])
        out += ["# Profiles (a sensor takes one with `profile:`; its own keys win). Adjust one "
                "by its",
                *example,
                "#",
                *_columns([_profile_line(k, p) for k, p in base.profiles.items()]), "#"]
    else:
        out += [f"# Profiles: {b} has none; write `profiles:` here.", "#"]
    rules = base.alerts.rules
    if rules:
        out += ["# Alert rules (adjust one by its id under alerts.rules, e.g.",
                f"# `- {{id: {rules[0].id}, severity: critical}}`; add your own with a new id):",
                *_columns([_rule_line(r) for r in rules]), "#"]
    else:
        out += [f"# Alert rules: {b} has none; write `alerts: rules:` here.", "#"]
    steps = base.lighting.dimming
    if steps:
        dims = "; ".join(f"{s.level:.0%} from {s.start} to {s.end}" for s in steps)
        out.append(f"# Street lighting: lamps dim to {dims} (local time), tolerance "
                   f"{base.lighting.tolerance:g}.")
    else:
        out.append("# Street lighting: no dimming (a lamp that is on runs at full output).")
    out += ["# Write `lighting:` to change it (a `dimming:` list replaces the base's whole).",
            "#"]
    tls = "TLS" if base.broker.tls is not None else "no TLS"
    out += [f"# Broker the gateways connect to: {base.broker.host}:{base.broker.port}, MQTT "
            f"{base.broker.protocol}, {tls}; write `broker:` to change it.", ""]

    fixes = [(r, keys) for r in rules if (keys := _own_references(r))]
    dept = [
        "#   departments:            # not inherited: until the city names its own, alarms",
        "#                           # open and are published on city/"
        f"{spec.id}/alerts/#, but no",
        "#                           # department is told (docs/alerts.md)",
        "#     - id: bpbd",
        f"#       name: {yaml_str('BPBD ' + spec.name)}",
        "#       language: id",
        "#       subscriptions: [{domains: [flood, rain], min_severity: warning}]",
        "#       contacts:",
        f"#         - {{id: pusdalops, channel: mqtt}}    # city/{spec.id}/notify/bpbd",
        "#         - {id: kepala, channel: webhook, url_env: BPBD_WEBHOOK_URL,",
        "#            secret_env: BPBD_WEBHOOK_SECRET, level: 1}",
        "#       escalation_s: [900]     # level 1 when not acknowledged within 15 min",
    ]
    if fixes:
        out += [f"# Alerts: {b}'s rules below name {b}'s own devices, districts or gateways,",
                "# which this pack does not have: they are off here until they name this",
                "# city's (then drop `enabled: false`).",
                "alerts:", "  rules:"]
        for r, keys in fixes:
            empty = ", ".join(f"{k}: []" for k in keys)
            out.append(f"    - {{id: {r.id}, enabled: false, {empty}}}")
        out += [f"  # {line.removeprefix('#   ')}" for line in dept]  # under alerts:
        out.append("")
    else:
        out += ["# Alerts: adjust the inherited rules, add your own, and name the city's "
                "departments:",
                "# alerts:",
                "#   rules:",
                f"#     - {{id: {rules[0].id if rules else 'flood-siaga'}, "
                "severity: critical}",
                *dept, ""]
    out += [
        "# Rivers (not inherited): which flood gauge of this pack feeds which place",
        "# downstream, for flood forecasts (docs/city-packs.md, \"Rivers\"), e.g.",
        "# rivers:",
        "#   - id: ciliwung",
        "#     name: Ciliwung",
        "#     forecast_points:          # places without a sensor of this pack",
        "#       - {id: manggarai, name: Pintu Air Manggarai (Jakarta),",
        "#          location: {lat: -6.2086, lon: 106.8497}}",
        "#     links:                    # upstream: a flood sensor of this pack",
        "#       - {upstream: flood-UPSTREAM, downstream: flood-DOWNSTREAM, travel_h: [0.5, 2]}",
        "#       - {upstream: flood-UPSTREAM, downstream: manggarai, travel_h: [6, 12]}",
        "#",
        "# Traffic corridors (not inherited): traffic sensors along one road, upstream first:",
        "# corridors:",
        "#   - {id: jl-raya, name: Jl. Raya, sensors: [tfc-raya-01, tfc-raya-02, tfc-raya-03]}",
        "",
    ]
    out += _districts(spec, lat, lon)
    return "\n".join(out) + "\n"


def _example_gateway(spec: NewCity, base: CityPack, district: str, lat: float,
                     lon: float) -> str:
    """A gateway file that loads in the new pack (once renamed ``*.yaml``)."""
    first: dict[Domain, str] = {}
    for name, p in base.profiles.items():
        first.setdefault(p.domain, name)
    lines = [
        "# An example gateway: copy this file to gw-NAME.yaml (only *.yaml files are read),",
        "# then give the box its id, district, location and sensors. One file per gateway;",
        "# sensor ids are unique in the whole city. docs/city-packs.md lists every key.",
        "id: gw-example",
        "name: Example gateway",
        f"district: {district}",
        f"location: {{lat: {_num(lat)}, lon: {_num(lon)}}}",
        "credentials:                  # its MQTT login; the password never in the pack",
        "  username: gw-example",
        "  password_env: CITYHUB_GW_EXAMPLE_PASSWORD",
        "flush_interval_s: 5",
        "sensors:",
    ]
    if not first:
        first = {Domain.TRAFFIC: ""}
    for k, (domain, profile) in enumerate(first.items()):
        sid = f"{_EXAMPLE_PREFIX[domain]}-example-01"
        how = f"profile: {profile}" if profile else f"domain: {domain.value}"
        lines += [f"  - id: {sid}", f"    {how}",
                  f"    location: {{lat: {_num(lat + 0.001 * k)}, lon: {_num(lon)}}}"]
    return "\n".join(lines) + "\n"


def _readme(spec: NewCity, out: Path) -> str:
    return f"""# Gateways of {spec.name}

One YAML file per gateway box, `gw-NAME.yaml`, with its sensors: the loader reads every
`*.yaml` file of this directory (not this README, nor `gw-example.yaml.example`).
Gateways are never inherited from the base pack: they are this city's own boxes.

1. `cp gw-example.yaml.example gw-NAME.yaml` and edit it: id, district (one of
   `city.yaml`'s), location, credentials (`password_env` names the variable holding
   its MQTT password), sensors (a `profile:` of the pack, an id unique in the city).
2. `cityhub config check {out}`: every problem with file, line and key.
3. `cityhub demo --city {out}` simulates every sensor of every gateway (with none,
   it has nothing to show).

docs/city-packs.md lists every key; docs/replicate-a-city.md walks through a new city.
"""


def _refuse_existing(out: Path) -> None:
    if out.exists() or out.is_symlink():
        raise ConfigError([ConfigProblem(str(out), "", "already exists: cityhub city new "
                                         "never overwrites; choose another --out or remove "
                                         "it")])


def scaffold(spec: NewCity) -> Scaffold:
    """Write the new city's pack into ``spec.out`` (which must not exist), check that it
    loads, and return what was written."""
    _refuse_existing(spec.out)
    base_dir = pack_dir(spec.base)
    base = load_pack(base_dir)
    if spec.id == base.city.id:
        raise ConfigError([ConfigProblem("command line", "ID", f"{spec.id!r} is the base "
                                         "pack's city id: a new city has its own (its topics "
                                         f"are city/{spec.id}/...)")])
    shipped = _is_shipped(spec.base, base_dir)
    base_label = f"the shipped pack '{base.city.id}'" if shipped \
        else f"the pack in {base_dir} ({base.city.id})"
    # a shipped pack lives in the installed package: a path relative to it from wherever the
    # new pack is would break as soon as either moves, so it is named absolutely
    extends = str(base_dir.resolve()) if shipped else extends_path(spec.out, base_dir)
    if spec.location is not None:
        lat, lon = spec.location
    elif spec.districts is not None:
        lon, lat = (round(v, 5) for v in spec.districts.location())
    else:
        raise ConfigError([ConfigProblem("command line", "--lat/--lon", "give the city's "
                                         "location, or --districts to take it from them")])
    district = spec.districts.districts[0] if spec.districts else None
    g_lat, g_lon = (district.centroid[1], district.centroid[0]) if district else (lat, lon)

    tmp = spec.out.parent / f".{spec.out.name}.new-{os.getpid()}"
    try:
        spec.out.parent.mkdir(parents=True, exist_ok=True)
        (tmp / "gateways").mkdir(parents=True)
    except OSError as e:
        raise ConfigError([ConfigProblem(str(spec.out), "", f"cannot write: "
                                         f"{e.strerror or e}")]) from None
    try:
        files = {
            "city.yaml": city_yaml(spec, base, base_label, extends, lat, lon),
            "gateways/README.md": _readme(spec, spec.out),
            "gateways/gw-example.yaml.example": _example_gateway(
                spec, base, district.id if district else "placeholder", g_lat, g_lon),
        }
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8")
        pack = load_pack(tmp)
        _refuse_existing(spec.out)  # again: it may have appeared meanwhile
        tmp.rename(spec.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Scaffold(spec.out, base_dir, base_label, extends, pack,
                    [spec.out / name for name in files])
