"""Load a city pack (or a settings file) once, validate it and report every problem.

A pack is a directory::

    firmware_configs/bandung/
        city.yaml            city, districts, profiles, broker; optional ``extends: ../other``
        gateways/*.yaml      one gateway per file, with its sensors

``extends`` chains merge as described in :mod:`cityhub.config.overlay`; gateways are
physical boxes of one city and are never inherited; nor are rivers or corridors, which
link the base city's own sensors, nor the departments alerts reach (alert rules are
inherited, and adjusted by id).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cityhub.config.overlay import merge, strip_replace
from cityhub.config.pack import CityPack, Gateway, cross_check
from cityhub.config.yamlsrc import Loc, Source, Where, YamlProblems, dotted, parse_yaml
from cityhub.errors import ConfigError, ConfigProblem
from cityhub.fields import Domain

__all__ = ["load_gateway", "load_pack", "load_settings", "pack_dir", "shipped_packs"]

M = TypeVar("M", bound=BaseModel)
# The shipped packs: package data of the hub's distribution (firmware_configs/).
_SHIPPED = "firmware_configs"
_DOMAINS = {d.value for d in Domain}


def shipped_packs() -> Path:
    """The directory of the city packs shipped with the hub (package data).

    A folder named like the package in the working directory, without its
    ``__init__.py`` (a user's own packs, say), can hide it from ``python -m cityhub``:
    that is a clear error naming the folder, not a traceback."""
    found = resources.files(_SHIPPED)
    path = Path(str(found))
    if not (path / "__init__.py").is_file():
        raise ConfigError([ConfigProblem(
            str(Path.cwd() / _SHIPPED), "", f"this folder hides the packs shipped with the "
            f"hub (the package {_SHIPPED!r}): run the command from another directory, or "
            "name the pack by its path")])
    return path


def pack_dir(name_or_path: str | Path) -> Path:
    """A pack directory from a path, or the name of a pack shipped with the hub
    (``bandung``, ``bogor``: package data, wherever the hub is installed)."""
    p = Path(name_or_path)
    if p.name == "city.yaml":
        p = p.parent
    if p.is_dir():
        return p
    shipped = shipped_packs()
    if "/" not in str(name_or_path) and (shipped / str(name_or_path) / "city.yaml").is_file():
        return shipped / str(name_or_path)
    names = ", ".join(sorted(d.name for d in shipped.iterdir() if (d / "city.yaml").is_file()))
    raise ConfigError([ConfigProblem(str(name_or_path), "", "no such city pack: expected a "
                                     "directory with city.yaml or the name of a shipped pack "
                                     f"({names})")])


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _city_source(directory: Path, chain: tuple[Path, ...]) -> Source:
    city_file = directory / "city.yaml"
    src = parse_yaml(city_file, _display(city_file))
    if not isinstance(src.data, dict):
        raise YamlProblems([ConfigProblem(_display(city_file), "", "must be a mapping")])
    extends = src.data.pop("extends", None)
    if extends is None:
        return Source(strip_replace(src.data), src.where)
    if not isinstance(extends, str):
        raise YamlProblems([ConfigProblem(_display(city_file), "extends",
                                          "must be a path to the base pack directory",
                                          src.where[("extends",)].line)])
    base_dir = (directory / extends).resolve()
    if base_dir in chain:
        raise YamlProblems([ConfigProblem(_display(city_file), "extends",
                                          f"extends cycle through {base_dir}",
                                          src.where[("extends",)].line)])
    if not (base_dir / "city.yaml").is_file():
        raise YamlProblems([ConfigProblem(_display(city_file), "extends",
                                          f"base pack {extends!r} has no city.yaml",
                                          src.where[("extends",)].line)])
    base = _city_source(base_dir, (*chain, base_dir))
    base.data.pop("gateways", None)  # the city's own: its boxes and sensors
    base.data.pop("rivers", None)  # they link the base city's own sensors
    base.data.pop("corridors", None)  # likewise
    alerts = base.data.get("alerts")
    if isinstance(alerts, dict):  # rules are inherited; departments are the city's own
        alerts.pop("departments", None)
    return merge(base, src)


def _add_gateways(src: Source, directory: Path, problems: list[ConfigProblem]
                  ) -> dict[Path, int]:
    """Add each ``gateways/*.yaml`` to the pack; each file's index among the pack's
    gateways (after any written in city.yaml itself)."""
    files: dict[Path, int] = {}
    gateways = src.data.setdefault("gateways", [])
    if not isinstance(gateways, list):
        return files
    for f in sorted((directory / "gateways").glob("*.yaml")):
        try:
            g = parse_yaml(f, _display(f))
        except YamlProblems as e:
            problems.extend(e.problems)
            continue
        i = len(gateways)
        gateways.append(g.data)
        files[f.resolve()] = i
        for loc, w in g.where.items():
            src.where[("gateways", i, *loc)] = w
    return files


def _apply_profiles(src: Source, problems: list[ConfigProblem]) -> None:
    profiles = src.data.get("profiles") or {}
    # Each profile's source positions, gathered once (not a scan of the whole pack per
    # inherited key): (path below the profile, place).
    placed: dict[object, list[tuple[Loc, Where]]] = {}
    for loc, w in src.where.items():
        if len(loc) >= 2 and loc[0] == "profiles":
            placed.setdefault(loc[1], []).append((loc[2:], w))
    for g, gw in enumerate(src.data.get("gateways") or []):
        if not isinstance(gw, dict) or not isinstance(gw.get("sensors"), list):
            continue
        for j, s in enumerate(gw["sensors"]):
            if not isinstance(s, dict) or "profile" not in s:
                continue
            p = profiles.get(s["profile"]) if isinstance(profiles, dict) else None
            if not isinstance(p, dict):
                loc = ("gateways", g, "sensors", j, "profile")
                problems.append(_problem(src, loc, f"unknown profile {s['profile']!r}; "
                                         f"the pack defines {', '.join(profiles) or 'none'}"))
                continue
            here: Loc = ("gateways", g, "sensors", j)
            there = placed.get(s["profile"], [])
            for key in ("domain", "driver", "interval_s", "params", "thresholds"):
                if key not in p:
                    continue
                own = s.get(key)
                if key not in s:
                    s[key] = p[key]
                    _inherit(src.where, there, (key,), (*here, key))
                elif isinstance(own, dict) and isinstance(p[key], dict):
                    s[key] = {**p[key], **own}
                    for k in p[key]:
                        if k not in own:
                            _inherit(src.where, there, (key, k), (*here, key, k))


_PATHS: tuple[Loc, ...] = (("broker", "tls", "ca_file"), ("broker", "tls", "cert_file"),
                           ("broker", "tls", "key_file"))


def _resolve_paths(src: Source) -> None:
    """Make the pack's relative file paths absolute, against the directory of the YAML
    file that wrote each one (an overlay's own, or its base pack's)."""
    for loc in _PATHS:
        parent: Any = src.data
        for key in loc[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        value = parent.get(loc[-1]) if isinstance(parent, dict) else None
        w = src.where.get(loc)
        if not isinstance(value, str) or not value or w is None:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            parent[loc[-1]] = str((Path(w.file).parent / path).resolve())


def _inherit(where: dict[Loc, Where], profile: list[tuple[Loc, Where]], frm: Loc,
             to: Loc) -> None:
    """Point ``to`` (and below) at the profile's ``frm`` it was inherited from."""
    n = len(frm)
    for loc, w in profile:
        if loc[:n] == frm:
            where[to + loc[n:]] = w


def _problem(src: Source, loc: Loc, message: str) -> ConfigProblem:
    found = src.locate(loc)
    if found is None:
        return ConfigProblem("?", dotted(loc), message)
    w, below = found
    return ConfigProblem(w.file, dotted(w.local + below), message, w.line)


def _data_loc(data: Any, loc: tuple[Any, ...]) -> Loc:
    """Drop the union tags pydantic inserts (e.g. 'flood' in a discriminated union)."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(data, dict) and isinstance(part, str) and part not in data \
                and part in _DOMAINS:
            continue
        out.append(part)
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            data = None
    return tuple(out)


def _explain(err: dict[str, Any]) -> str:
    t, msg = err["type"], err["msg"]
    if t == "extra_forbidden":
        return "unknown key (check the spelling)"
    if t == "union_tag_not_found":
        return "sensor has no domain: give 'domain' (traffic, flood, lighting, rain) or a profile"
    if t == "union_tag_invalid":
        return f"unknown domain {err['input'].get('domain')!r}: expected traffic, flood, " \
               "lighting or rain"
    inp = err.get("input")
    shown = "" if t == "missing" or isinstance(inp, dict | list) or str(inp) in msg \
        else f" (got {inp!r:.60})"
    return f"{msg.removeprefix('Value error, ')}{shown}"


def _validate(model: type[M], src: Source) -> M:
    try:
        return model.model_validate(src.data)
    except ValidationError as e:
        raise ConfigError([_problem(src, _data_loc(src.data, err["loc"]), _explain(dict(err)))
                           for err in e.errors()]) from None


def load_pack(name_or_path: str | Path) -> CityPack:
    """Load, merge and validate a city pack; raise :class:`ConfigError` listing every problem."""
    return _load(pack_dir(name_or_path))[0]


def load_gateway(path: str | Path) -> tuple[CityPack, Gateway]:
    """The gateway a city pack's ``gateways/*.yaml`` file describes, and its whole pack
    (the directory above ``gateways/``), loaded and validated."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ConfigError([ConfigProblem(str(path), "", "no such gateway file")])
    if file.parent.name != "gateways" or not (file.parent.parent / "city.yaml").is_file():
        raise ConfigError([ConfigProblem(str(path), "", "a gateway file lives in a city "
                                         "pack's gateways/ directory, beside its city.yaml")])
    pack, files = _load(file.parent.parent)
    return pack, pack.gateways[files[file]]


def _load(directory: Path) -> tuple[CityPack, dict[Path, int]]:
    problems: list[ConfigProblem] = []
    try:
        src = _city_source(directory, (directory.resolve(),))
    except YamlProblems as e:
        raise ConfigError(e.problems) from None
    files = _add_gateways(src, directory, problems)
    _apply_profiles(src, problems)
    _resolve_paths(src)
    try:
        pack = _validate(CityPack, src)
    except ConfigError as e:
        problems.extend(e.problems)
        raise ConfigError(_sorted_unique(problems)) from None
    problems.extend(_problem(src, loc, msg) for loc, msg in cross_check(pack))
    if problems:
        raise ConfigError(_sorted_unique(problems))
    return pack, files


def _sorted_unique(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    """One line per distinct problem (a profile's mistake is reported once, at the
    profile), in file and line order."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.file, p.line or 0, p.path))


def load_settings(path: str | Path, model: type[M]) -> M:
    """Load one YAML settings file into ``model``; raise :class:`ConfigError` on problems."""
    try:
        src = parse_yaml(Path(path), _display(Path(path)))
    except YamlProblems as e:
        raise ConfigError(e.problems) from None
    src.data = strip_replace(src.data) if src.data is not None else {}
    return _validate(model, src)
