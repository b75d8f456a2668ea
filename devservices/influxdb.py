"""A local InfluxDB 1.x server (Debian's ``influxd``), for the tests and the benches.

Talks to it with the standard library only (urllib): it is test tooling, not the store.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from devservices.ports import free_port, wait_for_port
from devservices.procs import stop_process

__all__ = ["LocalInfluxDB"]


@dataclass
class LocalInfluxDB:
    """An InfluxDB 1.x server (``influxd``) with its data in ``workdir``."""

    workdir: Path
    port: int = 0
    rpc_port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _conf(self) -> Path:
        w = self.workdir
        conf = w / "influxdb.conf"
        conf.write_text(
            f'reporting-disabled = true\nbind-address = "127.0.0.1:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{w}/meta"\n'
            f'[data]\n  dir = "{w}/data"\n  wal-dir = "{w}/wal"\n  query-log-enabled = false\n'
            f'[http]\n  bind-address = "127.0.0.1:{self.port}"\n  log-enabled = false\n'
            '  max-body-size = 26214400\n'
            "[monitor]\n  store-enabled = false\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        return conf

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        self.rpc_port = self.rpc_port or free_port()
        log = (self.workdir / "influxd.log").open("ab")
        self.proc = subprocess.Popen(["influxd", "-config", str(self._conf())],
                                     stdout=log, stderr=log)
        wait_for_port(self.port, self.proc)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), \
                    urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
                if resp.status == 204:
                    return
            time.sleep(0.05)
        raise TimeoutError("influxd did not answer /ping")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            stop_process(self.proc, kill=kill)
            self.proc = None

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        """Run InfluxQL synchronously (for tests): the decoded JSON answer."""
        params = {"q": q, "epoch": "ns"} | ({"db": db} if db else {})
        req = urllib.request.Request(f"{self.url}/query",
                                     data=urllib.parse.urlencode(params).encode())
        with urllib.request.urlopen(req, timeout=30) as resp:  # raises on HTTP >= 400
            result: dict[str, object] = json.loads(resp.read())
        return result
