"""The dependency direction of the design, checked on the source: arrows point inward.

Every import is read from the source (``ast``), lazy ones inside functions included:

- each package imports only the hub packages it may (the core none at all);
- each package imports only the standard library, the core's dependencies and those of
  its own extra in ``pyproject.toml``: the core nothing that only an extra installs, so a
  gateway with ``cityhub[edge]`` never needs the hub's server dependencies.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What each package may import of the hub.
ALLOWED = {
    "cityhub": {"cityhub"},
    "edge": {"cityhub", "edge"},
    "stores": {"cityhub", "stores"},
    "subscriber": {"cityhub", "subscriber"},
    "ingest": {"cityhub", "ingest", "stores", "subscriber"},
    "analytics": {"cityhub", "analytics", "stores", "subscriber"},
    "accounts": {"cityhub", "accounts"},
    "alerts": {"cityhub", "alerts", "subscriber", "accounts"},
    "dashboards": {"cityhub", "dashboards", "analytics", "stores", "accounts"},
    "devservices": {"cityhub", "devservices"},
    "broker": {"cityhub", "broker"},
    # the demo is a composition root: it wires the others together; nothing imports it
    "demo": {"cityhub", "demo", "devservices", "edge", "ingest", "stores", "subscriber",
             "analytics",
             "alerts", "dashboards", "accounts", "broker"},
}
HUB = set(ALLOWED) | {"firmware_configs"}
# The extra of pyproject.toml whose dependencies each package may import (besides the
# core's); None: the core's dependencies only.
EXTRA = {"cityhub": None, "edge": "edge", "stores": "stores", "subscriber": "subscriber",
         "ingest": "ingest",
         "analytics": "analytics", "alerts": "alerts", "dashboards": "dashboards",
         "devservices": "demo", "demo": "demo", "accounts": "accounts", "broker": "broker"}


def imports(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, wherever in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            # the hub imports absolutely; a relative import would escape this check
            assert node.level == 0, f"{path}:{node.lineno}: a relative import"
            if node.module:
                out.add(node.module.split(".")[0])
    return out


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.\-]+(\[[^\]]*\])?", requirement)
    assert match, requirement
    return match.group(0)


def _normal(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


@cache
def declared(extra: str | None) -> frozenset[str]:
    """The distributions (normalised names) the core and ``extra`` declare, following
    ``cityhub[...]`` references."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras: dict[str, list[str]] = project["optional-dependencies"]
    out: set[str] = set()
    todo = [*project["dependencies"], *(extras.get(extra, []) if extra else [])]
    seen: set[str] = set()
    while todo:
        name = _name(todo.pop())
        if name.startswith("cityhub["):
            for ref in name[len("cityhub["):-1].split(","):
                if ref not in seen:
                    seen.add(ref)
                    todo += extras[ref]
            continue
        out.add(_normal(name.split("[")[0]))
    return frozenset(out)


def third_party(module: str) -> set[str]:
    """The distributions that install the top-level ``module`` here."""
    return {_normal(d) for d in packages_distributions().get(module, [])}


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    for path in modules(package):
        found = imports(path) & HUB
        assert found <= ALLOWED[package], f"{path} imports {found - ALLOWED[package]}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_third_party_imports_are_declared(package: str) -> None:
    """A package imports nothing that its extra (for the core: the core's dependencies)
    does not install."""
    allowed = declared(EXTRA[package])
    for path in modules(package):
        for module in imports(path) - HUB - set(sys.stdlib_module_names):
            dists = third_party(module)
            assert dists, f"{path} imports {module!r}, which no installed distribution has"
            assert dists & allowed, (
                f"{path} imports {module!r} ({', '.join(sorted(dists))}), which "
                f"{'the core' if EXTRA[package] is None else f'cityhub[{EXTRA[package]}]'}"
                " does not declare")


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    """An import inside a function counts as much as one at the top."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    import aiohttp\n    from dash import html\n")
    assert imports(f) == {"aiohttp", "dash"}
    assert "aiohttp" not in {_normal(n) for n in declared(None)}


def test_only_the_demo_imports_dashboards_and_devservices() -> None:
    for package in set(ALLOWED) - {"demo", "dashboards", "devservices"}:
        for path in modules(package):
            bad = imports(path) & {"dashboards", "devservices", "demo"}
            assert not bad, f"{path} imports {bad}"


def test_registering_the_commands_loads_nothing_heavy() -> None:
    """``cityhub`` imports every package's command module to build its parser; those
    import only the core at their top (cityhub/cli/__init__.py), so an ingester, a
    gateway's ``cityhub edge`` or any ``--help`` does not load numba and NumPy (about
    70 MB: the ingester's peak memory had doubled when ``analytics`` loaded its kernels
    on import) nor the dashboards' stack."""
    code = ("import sys, cityhub.cli as c; c.parser(); "
            "print(' '.join(sorted(m for m in ('numba', 'llvmlite', 'numpy', 'pandas', "
            "'dash', 'plotly', 'flask', 'aiohttp', 'influxdb_client') if m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT, check=True).stdout.strip()
    assert out == "", f"building the cityhub command's parser imported: {out}"
