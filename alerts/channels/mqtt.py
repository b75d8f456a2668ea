"""MQTT: the common feed ``city/{city}/alerts/{domain}/{severity}`` (every alarm change,
one JSON object each) and a department's own topic ``city/{city}/notify/{department}``
(its grouped notifications). QoS 1, not retained; the service's publishing connection
returns after the broker's PUBACK."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import orjson

from alerts.channels.base import Delivery, Outgoing

__all__ = ["MqttChannel", "Publish"]

# topic, payload -> returns after the PUBACK, raises when not connected
Publish = Callable[[str, bytes], Awaitable[None]]


class MqttChannel:
    """Publishes each message's payload on one topic (``topic=None``: the payload's own,
    for the common feed, whose topic depends on the alarm)."""

    kind = "mqtt"

    def __init__(self, publish: Publish, topic: str | Callable[[Outgoing], str]) -> None:
        self._publish = publish
        self._topic = topic
        self.target = topic if isinstance(topic, str) else "city/{city}/alerts/{domain}/{severity}"

    async def send(self, message: Outgoing) -> Delivery:
        topic = self._topic if isinstance(self._topic, str) else self._topic(message)
        try:
            await self._publish(topic, orjson.dumps({"id": message.id, **message.payload}))
        except Exception as e:  # the broker away: the outbox retries
            return Delivery(False, f"not published: {e}"[:200])
        return Delivery(True, topic)

    async def aclose(self) -> None:
        return None
