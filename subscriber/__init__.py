"""The hub's MQTT consumer client: acknowledges a message only when told, stops reading
when told (extra ``subscriber``, paho-mqtt). The ingester and the analytics service read
telemetry through it; see :mod:`subscriber.client`.
"""

from subscriber.client import READ_SLICE_S, AckClient, MqttError, OnPublish
from subscriber.session import SESSION_EXPIRY_S, session_properties, shared
from subscriber.window import InflightWindow

__all__ = ["READ_SLICE_S", "SESSION_EXPIRY_S", "AckClient", "InflightWindow", "MqttError",
           "OnPublish", "session_properties", "shared"]
