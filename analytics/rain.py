"""Rain: intensity classes of the rain rate.

BMKG's hourly rain intensity classes: light up to 5 mm/h, moderate 5-10, heavy 10-20,
very heavy 20 and above (a city pack may move the heavy and very heavy bounds: a rain
sensor's ``thresholds``), as :func:`cityhub.levels.rain_class` defines them: codes 0 none
(0 mm/h), 1 light, 2 moderate, 3 heavy, 4 very heavy, -1 unknown (NaN).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from analytics._jit import kernel
from analytics.arrays import F64, AnalyticsInputError, floats, per_reading

__all__ = ["RAIN_CLASSES", "rain_class"]

RAIN_CLASSES = ("none", "light", "moderate", "heavy", "very heavy")
LIGHT_BELOW_MM_H = 5.0


@kernel
def _classes(rate: F64, heavy: F64, very_heavy: F64, out: npt.NDArray[np.int8]) -> None:
    each_h, each_v = heavy.shape[0] > 1, very_heavy.shape[0] > 1
    for i in range(rate.shape[0]):
        r = rate[i]
        if np.isnan(r):
            out[i] = -1
        elif r <= 0:
            out[i] = 0
        elif r < LIGHT_BELOW_MM_H:
            out[i] = 1
        elif r < heavy[i if each_h else 0]:
            out[i] = 2
        elif r < very_heavy[i if each_v else 0]:
            out[i] = 3
        else:
            out[i] = 4


def rain_class(rate_mm_h: Any, heavy: Any = 10.0, very_heavy: Any = 20.0
               ) -> npt.NDArray[np.int8]:
    """The intensity class code of each rain rate; ``RAIN_CLASSES[code]`` names it."""
    rate = floats("rate_mm_h", rate_mm_h)
    if (rate < 0).any():
        raise AnalyticsInputError("rate_mm_h: negative rain rate")
    n = rate.shape[0]
    h = per_reading("heavy", heavy, n)
    vh = per_reading("very_heavy", very_heavy, n)
    bh, bv = np.broadcast_arrays(h, vh)
    if (h <= LIGHT_BELOW_MM_H).any() or (bv <= bh).any():
        raise AnalyticsInputError(f"rain classes must ascend: {LIGHT_BELOW_MM_H} < heavy < "
                                  "very_heavy")
    out = np.empty(n, dtype=np.int8)
    _classes(rate, h, vh, out)
    return out
