"""``cityhub edge doctor``: check a gateway end to end and say what to fix.

Each check gives OK, WARN or FAIL with what it found and, when not OK, what to do:

- **config**: the gateway file and the pack around it load and validate;
- **credentials**: the MQTT password its ``credentials`` name is there (or a warning that
  without credentials a locked-down broker refuses it);
- **drivers**: each sensor's driver is built and answers one read;
- **broker**: a connection with its credentials and TLS gets the broker's CONNACK;
- **queue**: the queue's directory is writable, the disk has room for the queue bound,
  an existing queue opens (its depth and oldest reading);
- **clock**: the system clock is synchronised (``timedatectl``), since readings carry
  the gateway's time and the hub refuses those too far in the future.

It changes nothing: it publishes nothing, and a queue it opens it only reads.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cityhub.config import load_gateway
from cityhub.config.pack import CityPack, Gateway
from cityhub.errors import ConfigError
from cityhub.mqtt import BrokerSettings, TlsSettings, tls_context
from cityhub.secrets import secret

__all__ = ["Finding", "diagnose"]

Level = Literal["OK", "WARN", "FAIL"]


@dataclass(frozen=True)
class Finding:
    check: str
    level: Level
    found: str
    fix: str = ""

    def line(self) -> str:
        fix = f"\n{'':14}fix: {self.fix}" if self.fix and self.level != "OK" else ""
        return f"{self.level:<5}{self.check:<9}{self.found}{fix}"


def _credentials(gateway: Gateway) -> tuple[Finding, str | None]:
    creds = gateway.credentials
    if creds is None:
        return Finding("creds", "WARN", "the gateway has no credentials in the pack",
                       "a locked-down broker refuses anonymous clients: add credentials "
                       "(username, password_env) to the gateway file (docs/broker.md)"), None
    try:
        password = secret(creds.password_env, creds.password_file,
                          what=f"MQTT password of {gateway.id}")
    except ConfigError as e:
        where = creds.password_env or creds.password_file
        return Finding("creds", "FAIL", f"no password for {creds.username}: {e}",
                       f"set {where} (the value `cityhub broker config` printed or "
                       "read)"), None
    return Finding("creds", "OK", f"username {creds.username}, password from "
                   f"{creds.password_env or creds.password_file}"), password


async def _drivers(pack: CityPack, gateway: Gateway) -> list[Finding]:
    from edge.drivers import DriverError, make_driver
    from edge.drivers.sim import Weather

    weather = Weather(pack.city.timezone)
    out = []
    for sensor in gateway.sensors:
        try:
            driver = make_driver(sensor, pack, weather)
            try:
                async with asyncio.timeout(10):
                    fields = await driver.read(time.time())
            finally:
                await driver.aclose()
        except (DriverError, TimeoutError, OSError) as e:
            out.append(Finding("driver", "FAIL", f"{sensor.id} ({sensor.driver}): "
                               f"{e or type(e).__name__}",
                               "check the sensor's wiring, address and params in the "
                               "gateway file; `cityhub edge run` marks it faulty meanwhile"))
            continue
        out.append(Finding("driver", "OK", f"{sensor.id} ({sensor.driver}): "
                           f"{', '.join(sorted(fields))}"))
    return out


async def _broker(broker: BrokerSettings, gateway: Gateway, password: str | None) -> Finding:
    import aiomqtt

    where = f"{broker.host}:{broker.port}{' (TLS)' if broker.uses_tls else ''}"
    try:
        async with asyncio.timeout(15), aiomqtt.Client(
                broker.host, broker.port, identifier=f"{gateway.id}-doctor",
                username=broker.username, password=password,
                tls_context=tls_context(broker), timeout=10):
            pass
    except (aiomqtt.MqttError, TimeoutError, OSError) as e:
        text = str(e) or type(e).__name__
        if "authori" in text.lower() or "password" in text.lower() \
                or "identifier" in text.lower():
            fix = ("the broker refused the login: check the password and that the broker's "
                   "files were generated with it (cityhub broker config, then SIGHUP)")
        elif "certificate" in text.lower() or "ssl" in text.lower():
            fix = "check the broker's CA (pack broker.tls.ca_file or --broker-ca)"
        else:
            fix = ("check the host and port (pack broker: or --broker-host/--broker-port), "
                   "the network, and that the broker runs")
        return Finding("broker", "FAIL", f"{where}: {text}", fix)
    return Finding("broker", "OK", f"{where}: logged in as "
                   f"{broker.username or 'anonymous'}")


def _queue(path: Path, max_bytes: int) -> list[Finding]:
    from edge.queue import DiskQueue

    out = []
    directory = path.parent if path.parent != Path() else Path(".")
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            pass
    except OSError as e:
        return [Finding("queue", "FAIL", f"{directory} is not writable: {e}",
                        "run the agent as a user that owns the queue's directory, or give "
                        "--queue another path")]
    free = shutil.disk_usage(directory).free
    if free < max_bytes:
        out.append(Finding("queue", "WARN", f"{free // 2**20} MiB free in {directory}, "
                           f"less than the queue's bound ({max_bytes // 2**20} MiB)",
                           "free disk space or lower --queue-max-mb: a long outage "
                           "would fill the disk"))
    if path.exists():
        try:
            q = DiskQueue(path, max_bytes=max_bytes)
            try:
                s = q.stats()
            finally:
                q.close()
        except Exception as e:  # a corrupt or foreign file: say so, do not raise
            return [*out, Finding("queue", "FAIL", f"{path}: {e}",
                                  "move the file aside; the agent starts a new queue")]
        age = "" if s.oldest_age_s is None else f", oldest {s.oldest_age_s:.0f} s old"
        out.append(Finding("queue", "OK", f"{path}: {s.depth} readings waiting{age}"))
    else:
        out.append(Finding("queue", "OK", f"{path}: none yet (made at the first run)"))
    return out


def _clock() -> Finding:
    exe = shutil.which("timedatectl")
    if exe is None:
        return Finding("clock", "WARN", "cannot tell whether the clock is synchronised "
                       "(no timedatectl)", "run an NTP client (systemd-timesyncd, chrony)")
    try:
        r = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"],
                           capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return Finding("clock", "WARN", f"timedatectl did not answer: {e}",
                       "check systemd-timedated")
    if r.stdout.strip() == "yes":
        return Finding("clock", "OK", "synchronised (NTP)")
    if r.returncode != 0:
        said = "; ".join(r.stderr.split("\n")).strip("; ")[:200]
        return Finding("clock", "WARN", f"timedatectl: {said}",
                       "run an NTP client (systemd-timesyncd, chrony)")
    return Finding("clock", "FAIL", "not synchronised",
                   "enable NTP (timedatectl set-ntp true): readings carry this clock's time")


async def diagnose(gateway_file: Path, *, broker_host: str | None = None,
                   broker_port: int | None = None, broker_ca: str | None = None,
                   queue: str | None = None, queue_max_mb: float = 64.0) -> list[Finding]:
    """Every check's findings, in order."""
    try:
        pack, gateway = load_gateway(gateway_file)
    except ConfigError as e:
        return [Finding("config", "FAIL", str(e), "fix the file and line named")]
    findings = [Finding("config", "OK", f"gateway {gateway.id} of {pack.city.name}, "
                        f"{len(gateway.sensors)} sensors")]
    cred, password = _credentials(gateway)
    findings.append(cred)
    findings += await _drivers(pack, gateway)
    tls = pack.broker.tls
    if broker_ca:
        tls = tls.model_copy(update={"ca_file": broker_ca}) if tls \
            else TlsSettings(ca_file=broker_ca)
    broker = BrokerSettings(host=broker_host or pack.broker.host,
                            port=broker_port or pack.broker.port,
                            username=gateway.credentials.username if gateway.credentials
                            else None, tls=tls, keepalive_s=pack.broker.keepalive_s)
    if cred.level == "FAIL":
        findings.append(Finding("broker", "WARN", "not tried without the password", ""))
    else:
        findings.append(await _broker(broker, gateway, password))
    findings += _queue(Path(queue or os.path.join("var", f"edge-{gateway.id}.db")),
                       int(queue_max_mb * 2**20))
    findings.append(_clock())
    return findings
