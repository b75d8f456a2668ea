"""What every consumer of the telemetry asks of the broker: a persistent session (a week,
so a restart or an outage loses nothing the broker holds) with Receive Maximum at its
in-flight window (MQTT 5), and its filters in its own shared-subscription group. The
ingester, the analytics and the alerts services connect this way."""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["SESSION_EXPIRY_S", "session_properties", "shared"]

SESSION_EXPIRY_S = 7 * 24 * 3600


def session_properties(protocol: str, max_inflight: int, *, clean: bool = False
                       ) -> Properties | None:
    """The CONNECT properties of a consumer's session (None for MQTT 3.1.1, whose
    persistent session is the clean-session flag); ``clean`` ends the session instead."""
    if protocol != "5":
        return None
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = 0 if clean else SESSION_EXPIRY_S
    props.ReceiveMaximum = max_inflight
    return props


def shared(filters: list[str], group: str | None) -> list[str]:
    """``filters`` in the shared-subscription ``group`` (as they are when None)."""
    return [f"$share/{group}/{f}" if group else f for f in filters]
