"""Analytics: numba kernels that turn readings into what people act on.

Private ``@njit`` kernels over float64 / int64 arrays; the public functions below validate
and convert their inputs (:class:`AnalyticsInputError` names the argument and the
problem) and call them. Each kernel has a slow, obviously correct reference in the tests.
``docs/analytics.md`` gives every formula, unit, threshold and its source.

    from analytics import travel_time_index, level_of_service, siaga, rate_of_rise, ...
"""

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
