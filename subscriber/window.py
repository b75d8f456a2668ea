"""The in-flight window of a consumer: how many messages it holds unacknowledged, and
its reader paused while that reaches ``max_inflight`` (the broker keeps the rest: TCP
flow control), resumed once no more than half are held. The ingester and the analytics
service bound their memory with it."""

from __future__ import annotations

from subscriber.client import AckClient

__all__ = ["InflightWindow"]


class InflightWindow:
    """Counts messages held (received, not yet acknowledged) and pauses the reader."""

    def __init__(self, max_inflight: int) -> None:
        self.max_inflight = max_inflight
        self.half = max(1, max_inflight // 2)
        self.held = 0
        self.paused = False
        self.client: AckClient | None = None  # the connection's reader, once there is one

    def reset(self) -> None:
        """A new connection: nothing held (the broker redelivers what was)."""
        self.held = 0
        self.paused = False

    def hold(self, change: int) -> None:
        """Count messages received (+) or acknowledged (-); pause or resume reading."""
        self.held += change
        if self.client is None:
            return
        if self.held >= self.max_inflight:
            self.client.pause_reading()
            self.paused = True
        elif self.held <= self.half:
            self.client.resume_reading()
            self.paused = False
