"""Validation at the public edge of the kernels: shapes, dtypes, sorted times, NaN policy.

Kernels take contiguous float64 / int64 arrays and trust them; every public wrapper
converts its inputs with these helpers first and raises :class:`AnalyticsInputError`
naming the argument and what is wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from cityhub.errors import HubError

__all__ = ["F64", "I64", "AnalyticsInputError", "device_times", "floats", "micro_batch",
           "per_reading", "same_length", "times"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class AnalyticsInputError(HubError, ValueError):
    """An array given to an analytics function is not what it takes."""


def floats(name: str, values: Any, *, finite: bool = False) -> F64:
    """``values`` as a contiguous 1-D float64 array; NaN allowed (a missing reading)
    unless ``finite``; infinities never."""
    try:
        a = np.ascontiguousarray(values, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise AnalyticsInputError(f"{name}: not numbers ({e})") from None
    if a.ndim != 1:
        raise AnalyticsInputError(f"{name}: expected a 1-D array, got shape {a.shape}")
    if np.isinf(a).any():
        raise AnalyticsInputError(f"{name}: contains an infinity")
    if finite and np.isnan(a).any():
        raise AnalyticsInputError(f"{name}: contains NaN")
    return a


def per_reading(name: str, value: Any, n: int, *, finite: bool = True) -> F64:
    """A parameter given as one number or one per reading: a 1-element array for one
    number (kernels read element ``i`` of a longer one, else element 0: no copy of a
    constant per reading), else ``n`` floats."""
    a = floats(name, np.atleast_1d(np.asarray(value, dtype=np.float64)), finite=finite)
    if a.shape[0] not in (1, n):
        raise AnalyticsInputError(f"{name}: expected one number or one per reading ({n}), "
                                  f"got {a.shape[0]}")
    return a


def times(name: str, values: Any, *, strictly: bool = False) -> F64:
    """Reading times (UNIX seconds) as float64, finite and sorted (ascending; with
    ``strictly``, no two equal)."""
    t = floats(name, values, finite=True)
    d = np.diff(t)
    if (d < 0).any() or (strictly and (d == 0).any()):
        i = int(np.argmax(d < 0 if not strictly else d <= 0))
        order = "strictly increasing" if strictly else "sorted"
        raise AnalyticsInputError(f"{name}: must be {order}; element {i + 1} "
                                  f"({float(t[i + 1])!r}) follows {float(t[i])!r}")
    return t


def same_length(**arrays: Sequence[Any] | np.ndarray[Any, Any]) -> int:
    """The common length of ``arrays``; an error naming them if they differ."""
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        shown = ", ".join(f"{k} {v}" for k, v in lengths.items())
        raise AnalyticsInputError(f"arrays of different lengths: {shown}")
    return next(iter(lengths.values()), 0)


def device_times(device: Any, t: Any, devices: int) -> tuple[I64, F64]:
    """A micro-batch's device numbers (each in ``0 .. devices - 1``) and reading times
    (finite UNIX seconds; each device's in order among themselves, not checked here)."""
    dev = np.ascontiguousarray(device, dtype=np.int64)
    ts = floats("t", t, finite=True)
    n = same_length(device=dev, t=ts)
    if dev.ndim != 1:
        raise AnalyticsInputError(f"device: expected a 1-D array, got shape {dev.shape}")
    if n and (dev.min() < 0 or dev.max() >= devices):
        raise AnalyticsInputError(f"device: numbers must be in 0..{devices - 1}")
    return dev, ts


def micro_batch(device: Any, t: Any, v: Any, devices: int) -> tuple[I64, F64, F64]:
    """A micro-batch of readings: device numbers, times and values (NaN: missing)."""
    dev, ts = device_times(device, t, devices)
    x = floats("v", v)
    same_length(device=dev, v=x)
    return dev, ts, x
