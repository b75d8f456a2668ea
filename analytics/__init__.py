"""Analytics: numba kernels that turn readings into what people act on.

Private ``@njit`` kernels over float64 / int64 arrays; the public functions below validate
and convert their inputs (:class:`AnalyticsInputError` names the argument and the
problem) and call them. Each kernel has a slow, obviously correct reference in the tests.
``docs/analytics.md`` gives every formula, unit, threshold and its source.

    from analytics import travel_time_index, level_of_service, siaga, rate_of_rise, ...

The names load on first use (PEP 562): importing the package, as every ``cityhub``
command does to register ``cityhub analytics``, loads neither numba nor NumPy, so an
ingester or a gateway's ``cityhub edge`` does not carry them (about 70 MB).
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics.arrays import AnalyticsInputError
    from analytics.flood import (
        RiseStream,
        downstream_eta,
        lagged_correlation,
        rate_of_rise,
        siaga,
        time_to_level,
    )
    from analytics.incidents import Sustained, incident_conditions
    from analytics.lighting import (
        DARK_AT_NIGHT,
        DAY_BURNING,
        energy_kwh,
        lamp_faults,
        sun_elevation,
    )
    from analytics.lttb import lttb
    from analytics.quality import SeqCompleteness, gaps, out_of_range, seq_completeness, stuck
    from analytics.rain import RAIN_CLASSES, rain_class
    from analytics.seasonal import HOURS_PER_WEEK, SeasonalBaseline, hour_of_week
    from analytics.streaming import StreamState
    from analytics.traffic import LOS_GRADES, congestion, level_of_service, travel_time_index

_WHERE = {
    "AnalyticsInputError": "analytics.arrays",
    "DARK_AT_NIGHT": "analytics.lighting",
    "DAY_BURNING": "analytics.lighting",
    "HOURS_PER_WEEK": "analytics.seasonal",
    "LOS_GRADES": "analytics.traffic",
    "RAIN_CLASSES": "analytics.rain",
    "RiseStream": "analytics.flood",
    "SeasonalBaseline": "analytics.seasonal",
    "SeqCompleteness": "analytics.quality",
    "StreamState": "analytics.streaming",
    "Sustained": "analytics.incidents",
    "congestion": "analytics.traffic",
    "downstream_eta": "analytics.flood",
    "energy_kwh": "analytics.lighting",
    "gaps": "analytics.quality",
    "hour_of_week": "analytics.seasonal",
    "incident_conditions": "analytics.incidents",
    "lagged_correlation": "analytics.flood",
    "lamp_faults": "analytics.lighting",
    "level_of_service": "analytics.traffic",
    "lttb": "analytics.lttb",
    "out_of_range": "analytics.quality",
    "rain_class": "analytics.rain",
    "rate_of_rise": "analytics.flood",
    "seq_completeness": "analytics.quality",
    "siaga": "analytics.flood",
    "stuck": "analytics.quality",
    "sun_elevation": "analytics.lighting",
    "time_to_level": "analytics.flood",
    "travel_time_index": "analytics.traffic",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_WHERE))


__all__ = [
    "DARK_AT_NIGHT",
    "DAY_BURNING",
    "HOURS_PER_WEEK",
    "LOS_GRADES",
    "RAIN_CLASSES",
    "AnalyticsInputError",
    "RiseStream",
    "SeasonalBaseline",
    "SeqCompleteness",
    "StreamState",
    "Sustained",
    "congestion",
    "downstream_eta",
    "energy_kwh",
    "gaps",
    "hour_of_week",
    "incident_conditions",
    "lagged_correlation",
    "lamp_faults",
    "level_of_service",
    "lttb",
    "out_of_range",
    "rain_class",
    "rate_of_rise",
    "seq_completeness",
    "siaga",
    "stuck",
    "sun_elevation",
    "time_to_level",
    "travel_time_index",
]
