"""Publishing in the dashboards' tests: one paho client per call, connected, published
(QoS 1, PUBACK awaited) and disconnected cleanly."""

from __future__ import annotations

import uuid

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def send(port: int, topic: str, doc: object, *, retain: bool = False) -> None:
    """Publish ``doc`` (JSON, or bytes as they are) and wait for the broker's PUBACK."""
    payload = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
    finally:
        client.disconnect()
        client.loop_stop()
