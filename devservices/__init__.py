"""Development tooling: local Mosquitto and InfluxDB 1.x processes and process statistics,
shared by the demo, the tests and the benchmarks.

Not part of the core: a gateway (``cityhub[edge]``) never installs it. ``cityhub[demo]``
and ``cityhub[dev]`` do. Production runs its broker and database as system services.
"""

from devservices.influxdb import LocalInfluxDB
from devservices.mosquitto import LocalMosquitto
from devservices.ports import free_port, free_ports, wait_for_port
from devservices.procs import child_pids, cpu_seconds, rss_mb, stop_process

__all__ = ["LocalInfluxDB", "LocalMosquitto", "child_pids", "cpu_seconds", "free_port",
           "free_ports", "rss_mb", "stop_process", "wait_for_port"]
