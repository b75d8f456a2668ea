"""A local Mosquitto broker with the hub's limits, for the demo, the tests and the benches.

Runs Debian's ``mosquitto`` binary in its own directory on a free loopback port.
"""

from __future__ import annotations

import getpass
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cityhub.signals import die_with_parent
from devservices.ports import free_port, wait_for_port
from devservices.procs import stop_process

__all__ = ["LocalMosquitto"]


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
    stop_with_parent: bool = False  # SIGTERM to the broker should its starter die
    #: a whole mosquitto.conf to run instead of the default one (e.g. the one `cityhub
    #: broker config` generates: accounts and ACL); its listener must be on ``port``
    conf_text: str | None = None

    @staticmethod
    def available(binary: str = "mosquitto") -> bool:
        return shutil.which(binary) is not None or Path("/usr/sbin/mosquitto").exists()

    def _conf(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        # As root, Mosquitto would switch to user "mosquitto" and could not write its
        # persistence file or log in our temp dir: stay the user who started it.
        user = f"user {getpass.getuser()}\n"
        if self.conf_text is not None:
            for line in self.conf_text.splitlines():  # where a volume would be mounted
                if line.startswith("persistence_location "):
                    Path(line.split(None, 1)[1]).mkdir(parents=True, exist_ok=True)
            conf = self.workdir / "run.conf"
            conf.write_text(f"{self.conf_text}\n# stay the user who started it\n{user}")
            return conf
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n{user}"
            f"persistence true\npersistence_location {self.workdir}/\nautosave_interval 5\n"
            "max_queued_messages 1000000\nmax_queued_bytes 1073741824\n"
            "max_inflight_messages 2000\nmessage_size_limit 1048576\n"
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
        # stop_with_parent (the demo's broker): also a session of its own, so a Ctrl-C in
        # the terminal (or a SIGTERM to the whole process group) reaches the demo, which
        # stops its services and then the broker, not the broker under them.
        self.proc = subprocess.Popen([exe, "-c", str(self._conf())],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     preexec_fn=die_with_parent if self.stop_with_parent
                                     else None, start_new_session=self.stop_with_parent)
        wait_for_port(self.port, self.proc)
        if self.tls_port:
            wait_for_port(self.tls_port, self.proc)

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is not None:
            stop_process(self.proc, kill=kill)
            self.proc = None
