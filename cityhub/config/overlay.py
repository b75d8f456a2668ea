"""Overlay merge: how a pack that ``extends:`` another adjusts it.

- mappings merge key by key, recursively;
- lists whose items are all mappings with an ``id`` merge by id: an overlay item with a
  base item's id merges into it (in the base's order), a new id is appended;
- a value tagged ``!replace`` replaces the base value whole (e.g. ``districts: !replace``);
- any other value (scalar, other list) replaces the base value.

The source positions follow the data: inherited values point at the base file, overridden
ones at the overlay.
"""

from __future__ import annotations

from typing import Any

from cityhub.config.yamlsrc import Loc, Replace, Source, Where

__all__ = ["merge", "strip_replace"]


def _by_id(items: Any) -> bool:
    return isinstance(items, list) and all(isinstance(x, dict) and "id" in x for x in items)


def _rebase(where: dict[Loc, Where], old: Loc, new: Loc, out: dict[Loc, Where]) -> None:
    n = len(old)
    for loc, w in where.items():
        if loc[:n] == old:
            out[new + loc[n:]] = w


def _drop(where: dict[Loc, Where], loc: Loc) -> None:
    n = len(loc)
    for k in [k for k in where if k[:n] == loc and len(k) > n]:
        del where[k]


def _merge(base: Any, over: Any, loc: Loc, where: dict[Loc, Where],
           over_where: dict[Loc, Where], over_loc: Loc) -> Any:
    if isinstance(over, Replace):
        _drop(where, loc)
        _rebase(over_where, over_loc, loc, where)
        return strip_replace(over.value)
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v, (*loc, k), where, over_where, (*over_loc, k))
            if ((*over_loc, k)) in over_where:
                where[(*loc, k)] = over_where[(*over_loc, k)]
        return out
    if _by_id(base) and _by_id(over):
        items = list(base)
        index = {x["id"]: i for i, x in enumerate(items)}
        for j, item in enumerate(over):
            i = index.get(item["id"])
            if i is None:
                i = index[item["id"]] = len(items)
                items.append({})
            items[i] = _merge(items[i], item, (*loc, i), where, over_where, (*over_loc, j))
        return items
    _drop(where, loc)
    _rebase(over_where, over_loc, loc, where)
    return strip_replace(over)


def strip_replace(value: Any) -> Any:
    """``value`` with every ``!replace`` marker removed (for a pack without a base)."""
    if isinstance(value, Replace):
        return strip_replace(value.value)
    if isinstance(value, dict):
        return {k: strip_replace(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip_replace(v) for v in value]
    return value


def merge(base: Source, overlay: Source) -> Source:
    """The overlay applied to the base, with positions of both."""
    where = dict(base.where)
    data = _merge(base.data, overlay.data, (), where, overlay.where, ())
    return Source(data, where)
