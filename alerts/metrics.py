"""The alerts service's Prometheus metrics (``/metrics``) and its health detail."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["AlertsMetrics"]


class AlertsMetrics:
    """Every counter of the service, in its own registry."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        p = "cityhub_alerts_"
        self.messages = Counter(f"{p}messages", "messages received, by kind (telemetry, "
                                "status, event)", ["kind"], registry=r)
        self.refused = Counter(f"{p}refused_messages", "messages refused, by reason "
                               "(telemetry the contract refuses, unreadable events or "
                               "status)", ["reason"], registry=r)
        self.opened = Counter(f"{p}alarms_opened", "alarms opened, by rule", ["rule"],
                              registry=r)
        self.resolved = Counter(f"{p}alarms_resolved", "alarms resolved by the rules",
                                ["rule"], registry=r)
        self.escalations = Counter(f"{p}escalations", "escalations, by department",
                                   ["department"], registry=r)
        self.queued = Counter(f"{p}notifications", "notifications written to the outbox, "
                              "by state (pending, suppressed)", ["state"], registry=r)
        self.sent = Counter(f"{p}notifications_sent", "notifications sent, by department "
                            "(* : the common MQTT feed)", ["department"], registry=r)
        self.failed = Counter(f"{p}notifications_failed", "notifications given up "
                              "(kept in the store as failed), by department", ["department"],
                              registry=r)
        self.retried = Counter(f"{p}retries", "messages retried after a transient failure",
                               ["department"], registry=r)
        self.deferred = Counter(f"{p}deferred", "times a contact's message waited for its "
                                "rate limit", ["department"], registry=r)
        self.attempts = Counter(f"{p}attempts", "delivery attempts by channel and result",
                                ["channel", "result"], registry=r)
        self.disabled_contacts = Gauge(f"{p}disabled_contacts", "contacts disabled after "
                                       "repeated permanent failures", registry=r)
        self.unacknowledged = Gauge(f"{p}unacknowledged_messages", "messages received and "
                                    "not yet judged and acknowledged", registry=r)
        self.connected = Gauge(f"{p}connected", "1 while connected to the broker",
                               registry=r)
        self.active = Gauge(f"{p}active_alarms", "alarms open or acknowledged", registry=r)
        self.batch_seconds = Histogram(
            f"{p}batch_seconds", "first message of a batch received -> its alarm changes "
            "committed", buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=r)

    def total(self, name: str) -> float:
        """The sum of a counter over its labels."""
        return sum(s.value for m in self.registry.collect() if m.name == name
                   for s in m.samples if s.name.endswith("_total"))

    def snapshot(self) -> dict[str, float]:
        """The main counters, for /healthz."""
        p = "cityhub_alerts_"
        return {n: self.total(p + n) for n in (
            "messages", "alarms_opened", "alarms_resolved", "notifications_sent",
            "notifications_failed", "escalations")}
