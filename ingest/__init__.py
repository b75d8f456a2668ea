"""Ingester: MQTT telemetry into the store, acknowledging only durable readings.
See docs/ingest.md."""
