"""InfluxQL quoting: identifiers in double quotes, string literals in single quotes."""

from __future__ import annotations

__all__ = ["ident", "literal"]


def ident(name: str) -> str:
    """A quoted identifier (measurement, tag key, field key)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: str) -> str:
    """A quoted string literal (tag value in a WHERE clause)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
