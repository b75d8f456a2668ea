"""Edge agent: runs on a sensor gateway; drivers read sensors, the publisher sends SenML
packs over MQTT. Imports only ``cityhub`` (install ``cityhub[edge]``: no Dash, no numba)."""
