"""A micro-batch of one domain's readings as columns: one row per (device, time), devices
numbered within the domain, rows in (device, time) order, a float64 column per numeric
field (NaN where a row has no such reading).

The kernels take each device's readings in time order; sorting the batch gives them
that even when redeliveries come late or out of order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from analytics.arrays import F64, I64
from cityhub.senml import Reading

__all__ = ["Columns", "Numbering", "transitions"]


@dataclass(frozen=True)
class Numbering:
    """The devices of one domain, numbered 0 .. n - 1 in name order."""

    names: tuple[str, ...]
    index: dict[str, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {d: k for k, d in enumerate(self.names)})

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Columns:
    """One domain's rows of a micro-batch."""

    dev: I64
    time_ns: I64
    t: F64  # UNIX seconds
    values: dict[str, F64]
    # what an earlier detector found of each row (the quality detector's "stuck")
    flags: dict[str, npt.NDArray[np.bool_]] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.dev.shape[0])

    def get(self, name: str) -> F64:
        """The column of field ``name`` (all NaN where no row has it)."""
        col = self.values.get(name)
        return col if col is not None else np.full(len(self), np.nan)

    def select(self, rows: npt.NDArray[np.bool_]) -> Columns:
        """The rows where ``rows`` is true."""
        return Columns(self.dev[rows], self.time_ns[rows], self.t[rows],
                       {k: v[rows] for k, v in self.values.items()},
                       {k: v[rows] for k, v in self.flags.items()})

    def flagged(self, **flags: npt.NDArray[np.bool_]) -> Columns:
        """The same rows with these flags (one per row) added."""
        return Columns(self.dev, self.time_ns, self.t, self.values, {**self.flags, **flags})

    def flag(self, name: str) -> npt.NDArray[np.bool_]:
        """Flag ``name`` of each row (False where no detector set it)."""
        got = self.flags.get(name)
        return got if got is not None else np.zeros(len(self), dtype=np.bool_)

    def groups(self) -> list[tuple[int, int, int]]:
        """(device, first row, end row) of each device in the batch."""
        if not len(self):
            return []
        cuts = np.flatnonzero(np.diff(self.dev)) + 1
        starts = np.concatenate(([0], cuts))
        ends = np.concatenate((cuts, [len(self)]))
        return [(int(self.dev[a]), int(a), int(b)) for a, b in zip(starts, ends, strict=True)]

    @classmethod
    def of(cls, readings: Iterable[Reading], numbering: Numbering) -> Columns:
        """The numeric readings as rows; other kinds of value are not analysed."""
        rows: dict[tuple[int, int], dict[str, float]] = {}
        index = numbering.index
        for r in readings:
            v = r.value
            if isinstance(v, bool) or not isinstance(v, int | float):
                continue
            rows.setdefault((index[r.device], r.time_ns), {})[r.field] = float(v)
        keys = sorted(rows)
        n = len(keys)
        dev = np.fromiter((k[0] for k in keys), dtype=np.int64, count=n)
        time_ns = np.fromiter((k[1] for k in keys), dtype=np.int64, count=n)
        names = {f for row in rows.values() for f in row}
        values = {f: np.fromiter((rows[k].get(f, np.nan) for k in keys), dtype=np.float64,
                                 count=n) for f in names}
        return cls(dev, time_ns, time_ns / 1e9, values)


def transitions(dev: I64, flags: npt.NDArray[np.bool_], before: npt.NDArray[np.bool_]
                ) -> npt.NDArray[np.int64]:
    """Rows where a device's flag differs from its previous row's (for its first row in
    the batch: from ``before``, the flags per device before the batch)."""
    n = dev.shape[0]
    if not n:
        return np.zeros(0, dtype=np.int64)
    prev = np.empty(n, dtype=np.bool_)
    prev[1:] = flags[:-1]
    first = np.ones(n, dtype=np.bool_)
    first[1:] = dev[1:] != dev[:-1]
    prev[first] = before[dev[first]]
    return np.flatnonzero(flags != prev)
