"""The dependency direction of the design, checked on the source: arrows point inward."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HUB = {"cityhub", "edge", "ingest", "analytics", "alerts", "dashboards"}
# What each package may import from the hub, and third-party packages it must not touch.
ALLOWED = {
    "cityhub": {"cityhub"},
    "edge": {"cityhub", "edge"},
    "ingest": {"cityhub", "ingest"},
    "analytics": {"cityhub", "analytics"},
    "alerts": {"cityhub", "alerts"},
    "dashboards": {"cityhub", "dashboards", "analytics"},
}
FORBIDDEN_THIRD_PARTY = {
    "cityhub": {"dash", "plotly", "numba", "aiomqtt", "paho", "flask"},
    "edge": {"dash", "plotly", "numba", "numpy", "flask", "influxdb_client"},
}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module.split(".")[0])
    return out


def modules(package: str) -> list[Path]:
    return [p for p in (ROOT / package).rglob("*.py")
            if not (package == "cityhub" and "cli" in p.relative_to(ROOT / package).parts)]


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_dependency_direction(package: str) -> None:
    for path in modules(package):
        found = imports(path)
        assert (found & HUB) <= ALLOWED[package], f"{path} imports {found & HUB}"
        bad = found & FORBIDDEN_THIRD_PARTY.get(package, set())
        assert not bad, f"{path} imports {bad}"


def test_nothing_imports_dashboards() -> None:
    for package in HUB - {"dashboards"}:
        for path in modules(package):
            assert "dashboards" not in imports(path), path
