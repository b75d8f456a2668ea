"""Analytics: numba kernels over per-device arrays (congestion, flood rate of rise,
lamp faults, data quality, LTTB). Not built yet: the analytics issue brings it."""
