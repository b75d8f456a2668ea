"""YAML documents that remember where every value came from (file and line).

Parsing keeps, for each key path, the file and 1-based line it was written on, so a
validation error can point at the exact place. Duplicate keys in one mapping are an error
(PyYAML would silently keep the last). The tag ``!replace`` marks a value that replaces,
rather than merges into, the value it overrides in an ``extends:`` overlay.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cityhub.errors import ConfigProblem

__all__ = ["Loc", "Replace", "Source", "YamlProblems", "dotted", "parse_yaml"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Replace:
    """A value tagged ``!replace``: overrides without merging."""

    value: Any


@dataclass(frozen=True, slots=True)
class Where:
    file: str
    line: int
    local: Loc  # the key path inside that file


@dataclass
class Source:
    """Parsed data plus where each key path was written."""

    data: Any
    where: dict[Loc, Where] = field(default_factory=dict)

    def locate(self, loc: Loc) -> tuple[Where, Loc] | None:
        """The most specific known place for ``loc`` (walking up to its parents), with the
        part of ``loc`` below that place."""
        for n in range(len(loc), -1, -1):
            w = self.where.get(loc[:n])
            if w is not None:
                return w, loc[n:]
        return None


class _Loader(yaml.SafeLoader):
    pass


def _replace(loader: yaml.SafeLoader, node: yaml.Node) -> Replace:
    if isinstance(node, yaml.MappingNode):
        return Replace(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Replace(loader.construct_sequence(node, deep=True))
    return Replace(loader.construct_scalar(node))  # type: ignore[arg-type]


_Loader.add_constructor("!replace", _replace)


def _walk(node: yaml.Node, data: Any, loc: Loc, file: str, out: dict[Loc, Where],
          problems: list[ConfigProblem]) -> None:
    out[loc] = Where(file, node.start_mark.line + 1, loc)
    if isinstance(data, Replace):
        data = data.value
    if isinstance(node, yaml.MappingNode) and isinstance(data, dict):
        seen: set[Any] = set()
        for k_node, v_node in node.value:
            key = k_node.value
            if key in seen:
                problems.append(ConfigProblem(file, dotted((*loc, key)),
                                              "duplicate key", k_node.start_mark.line + 1))
            seen.add(key)
            if key in data:
                _walk(v_node, data[key], (*loc, key), file, out, problems)
                out[(*loc, key)] = Where(file, k_node.start_mark.line + 1, (*loc, key))
    elif isinstance(node, yaml.SequenceNode) and isinstance(data, list):
        for i, (item_node, item) in enumerate(zip(node.value, data, strict=False)):
            _walk(item_node, item, (*loc, i), file, out, problems)


def dotted(loc: Loc) -> str:
    s = ""
    for part in loc:
        s += f"[{part}]" if isinstance(part, int) else (f".{part}" if s else str(part))
    return s


def parse_yaml(path: Path, display: str | None = None) -> Source:
    """Parse one YAML file; raise ConfigError-ready problems via ``ValueError`` args.

    Returns a :class:`Source`; on a syntax error or duplicate keys raises
    :class:`YamlProblems` carrying the problems.
    """
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise YamlProblems([ConfigProblem(name, "", f"cannot read: {e.strerror or e}")]) from e
    except UnicodeDecodeError as e:
        raise YamlProblems([ConfigProblem(name, "", f"not UTF-8 text: {e}")]) from e
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(x) for x in (e.context, e.problem) if x)
        raise YamlProblems([ConfigProblem(name, "", f"YAML syntax: {msg}", line)]) from e
    except yaml.YAMLError as e:
        raise YamlProblems([ConfigProblem(name, "", f"YAML: {e}")]) from e
    finally:
        loader.dispose()
    src = Source(data)
    problems: list[ConfigProblem] = []
    if node is not None:
        _walk(node, data, (), name, src.where, problems)
    if problems:
        raise YamlProblems(problems)
    return src


class YamlProblems(Exception):
    """Problems found while parsing YAML (collected by the loader into a ConfigError)."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


