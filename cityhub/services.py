"""Local Mosquitto and InfluxDB 1.x processes, for the demo, the tests and the benchmarks.

Each runs from its Debian package's binary, in its own temporary directory, on a free
loopback port, and is stopped (and its directory removed) on exit. Production runs its
broker and database as system services; nothing here is for that.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LocalInfluxDB", "LocalMosquitto", "child_pids", "cpu_seconds", "free_port",
           "free_ports", "rss_mb", "wait_for_port"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> int:
    """A port p with p + 1 ... p + n - 1 free too (as ``workers: n`` uses them)."""
    while True:
        p = free_port()
        try:
            for k in range(1, n):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p + k))
            return p
        except (OSError, OverflowError):  # taken, or past 65535
            continue


# -- a process, from Linux's /proc (benchmarks and tests) -----------------------------------

def _stat(pid: int | str) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name: state, ppid, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def child_pids(pid: int) -> set[int]:
    """Pids of the live (not zombie) child processes of ``pid``."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat(entry.name)
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                out.add(int(entry.name))
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident memory (``VmRSS``; ``VmHWM``: its peak so far) of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} for {pid}")


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open in {timeout_s}s")


def _stop(proc: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if proc.poll() is None:
        proc.kill() if kill else proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class LocalMosquitto:
    """A Mosquitto broker with the hub's limits, persistence in ``workdir``.

    With ``tls_certfile`` and ``tls_keyfile`` (PEM) it also listens for MQTT over TLS on
    ``tls_port``; ``tls_cafile`` and ``require_certificate`` make it demand a client
    certificate signed by that CA. The plain listener on ``port`` stays.
    """

    workdir: Path
    port: int = 0
    binary: str = "mosquitto"
    proc: subprocess.Popen[bytes] | None = None
    tls_port: int = 0
    tls_certfile: Path | None = None
    tls_keyfile: Path | None = None
    tls_cafile: Path | None = None
    require_certificate: bool = False

    @staticmethod
    def available(binary: str = "mosquitto") -> bool:
        return shutil.which(binary) is not None or Path("/usr/sbin/mosquitto").exists()

    def _conf(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        # As root, Mosquitto would switch to user "mosquitto" and could not write its
        # persistence file or log in our temp dir: stay the user who started it.
        user = f"user {getpass.getuser()}\n"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{user}"
            f"persistence true\npersistence_location {self.workdir}/\nautosave_interval 5\n"
            "max_queued_messages 1000000\nmax_queued_bytes 1073741824\n"
            "max_inflight_messages 1000\nmessage_size_limit 1048576\n"
            f"log_dest file {self.workdir}/mosquitto.log\nlog_type error\nlog_type warning\n"
            f"{self._tls_listener()}"
        )
        return conf

    def _tls_listener(self) -> str:
        if self.tls_certfile is None or self.tls_keyfile is None:
            return ""
        # Mosquitto reads these as the user above: they must be readable by it.
        lines = [f"listener {self.tls_port} 127.0.0.1", f"certfile {self.tls_certfile}",
                 f"keyfile {self.tls_keyfile}"]
        if self.tls_cafile is not None:
            lines.append(f"cafile {self.tls_cafile}")
        if self.require_certificate:
            if self.tls_cafile is None:
                raise ValueError("require_certificate needs tls_cafile")
            lines.append("require_certificate true")
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        if self.tls_certfile is not None:
            self.tls_port = self.tls_port or free_port()
        exe = shutil.which(self.binary) or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([exe, "-c", str(self._conf())],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_port(self.port, self.proc)
        if self.tls_port:
            wait_for_port(self.tls_port, self.proc)

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            _stop(self.proc, kill=kill)
            self.proc = None



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
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/ping", timeout=1).status_code == 204:
                    return
            time.sleep(0.05)
        raise TimeoutError("influxd did not answer /ping")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            _stop(self.proc, kill=kill)
            self.proc = None

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        """Run InfluxQL synchronously (for tests): the decoded JSON answer."""
        params = {"q": q, "epoch": "ns"} | ({"db": db} if db else {})
        resp = httpx.post(f"{self.url}/query", params=params, timeout=30)
        resp.raise_for_status()
        result: dict[str, object] = resp.json()
        return result
