"""The analytics service's Prometheus metrics (``/metrics``) and its health detail."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AnalyticsMetrics"]


class AnalyticsMetrics:
    """Every counter of the service, in its own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "cityhub_analytics_"
        self.messages = Counter(f"{p}messages", "telemetry messages received", registry=r)
        self.readings = Counter(f"{p}readings", "readings decoded", registry=r)
        self.refused = Counter(f"{p}refused_messages", "messages the contract's decoder "
                               "refused, by reason (the ingester keeps them as dead letters)",
                               ["reason"], registry=r)
        self.late = Gauge(f"{p}late_readings", "readings skipped since start: not newer "
                          "than their device's newest (redelivered or late)", registry=r)
        self.derived = Counter(f"{p}derived_points", "derived points stored", registry=r)
        self.derived_refused = Counter(f"{p}derived_refused_points", "derived points the "
                                       "store refused (not retried; backfill recomputes "
                                       "them)", registry=r)
        self.store_retries = Counter(f"{p}store_retries", "derived-point writes retried",
                                     registry=r)
        self.events = Counter(f"{p}events", "events published, by kind", ["kind"],
                              registry=r)
        self.suppressed = Counter(f"{p}events_suppressed", "events derived again after a "
                                  "restart and not published twice (the journal had them)",
                                  registry=r)
        self.replayed = Counter(f"{p}replayed_messages", "messages of the inbox log run "
                                "through the engine again after a restart or a lost "
                                "connection", registry=r)
        self.checkpoints = Counter(f"{p}checkpoints", "checkpoints saved", registry=r)
        self.checkpoint_bytes = Gauge(f"{p}checkpoint_bytes", "size of the last checkpoint",
                                      registry=r)
        self.unacknowledged = Gauge(f"{p}unacknowledged_messages", "messages received, "
                                    "not yet in the inbox log and acknowledged", registry=r)
        self.connected = Gauge(f"{p}connected", "1 while connected to the broker",
                               registry=r)
        links = ["upstream", "downstream"]
        self.river_lag = Gauge(f"{p}river_lag_hours", "the lag the stored history shows "
                               "between a river link's two gauges (NaN: not known)", links,
                               registry=r)
        self.river_correlation = Gauge(f"{p}river_lag_correlation", "how well the rises "
                                       "match at that lag (-1 to 1)", links, registry=r)
        self.river_refined = Gauge(f"{p}river_travel_refined", "1: the link's flood "
                                   "forecasts use the history's lag; 0: the pack's travel_h",
                                   links, registry=r)
        self.batch_seconds = Histogram(
            f"{p}batch_seconds", "first message of a micro-batch received -> its derived "
            "points stored and events published",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=r)

    def snapshot(self) -> dict[str, float]:
        """The main counters, for /healthz."""
        get = self.registry.get_sample_value
        names = ("messages", "readings", "derived_points", "events", "checkpoints")
        out = {n: get(f"cityhub_analytics_{n}_total") or 0.0 for n in names}
        out["events"] = sum(
            m.value for metric in self.registry.collect()
            if metric.name == "cityhub_analytics_events" for m in metric.samples
            if m.name.endswith("_total"))
        return out
