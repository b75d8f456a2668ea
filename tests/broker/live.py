"""A real Mosquitto run from the files ``cityhub broker config`` wrote, and a small MQTT
client (paho, on its own thread) that says what happened on the wire: the CONNACK, the
SUBACK's granted codes, each PUBACK, each message delivered in order."""

from __future__ import annotations

import contextlib
import getpass
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from devservices.ports import wait_for_port
from devservices.procs import stop_process

__all__ = ["Mqtt", "Running", "connected", "running_broker"]


@dataclass(frozen=True)
class Running:
    proc: subprocess.Popen[bytes]
    log: Path

    def reload(self) -> None:
        """SIGHUP: Mosquitto reads its password_file and acl_file again."""
        self.proc.send_signal(signal.SIGHUP)


@contextlib.contextmanager
def running_broker(conf_dir: Path, *ports: int) -> Iterator[Running]:
    """Mosquitto on the generated ``conf_dir/mosquitto.conf``, until the block ends.

    One line is added, in a copy: ``user`` (the tests' own). Started as root, Mosquitto
    would switch to user ``mosquitto``, which cannot read the 0600 passwd and acl the
    tests' user wrote (in a container the image's entrypoint makes them its own).
    """
    text = (conf_dir / "mosquitto.conf").read_text()
    for line in text.splitlines():  # as a deployment's volume would be there
        if line.startswith("persistence_location "):
            Path(line.split(None, 1)[1]).mkdir(parents=True, exist_ok=True)
    run = conf_dir / "run.conf"
    run.write_text(f"{text}\n# tests: stay the user who started it\nuser {getpass.getuser()}\n")
    log = conf_dir / "broker.log"
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with log.open("wb") as out:
        proc = subprocess.Popen([exe, "-c", str(run)], stdout=out, stderr=subprocess.STDOUT)
    try:
        for port in ports:
            try:
                wait_for_port(port, proc)
            except (RuntimeError, TimeoutError) as e:
                raise RuntimeError(f"{e}; broker log:\n{log.read_text()}") from e
        yield Running(proc, log)
    finally:
        stop_process(proc)


@dataclass(frozen=True)
class Connack:
    connected: bool
    reason: str


class Mqtt:
    """One MQTT connection to 127.0.0.1:``port`` (MQTT 3.1.1 unless ``v5``)."""

    def __init__(self, port: int, username: str | None = None, password: str | None = None,
                 *, tls: ssl.SSLContext | None = None, v5: bool = False,
                 will: tuple[str, bytes] | None = None) -> None:
        self.port = port
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2,
                                  client_id=f"t-{username}-{uuid.uuid4().hex[:8]}",
                                  protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
                                  reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls is not None:
            self.client.tls_set_context(tls)
        if will is not None:
            self.client.will_set(will[0], will[1], qos=1, retain=True)
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self._cond = threading.Condition()
        self._connack: Connack | None = None
        self._acks: dict[int, Any] = {}
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish

    # -- paho callbacks (its thread) --
    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._cond:
            self._connack = Connack(not reason.is_failure, str(reason))
            self._cond.notify_all()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        with self._cond:
            if self._connack is None:
                self._connack = Connack(False, f"disconnected before CONNACK: {reason}")
            self._cond.notify_all()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self.messages.put((msg.topic, bytes(msg.payload), bool(msg.retain)))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, codes: list[Any], _p: Any) -> None:
        with self._cond:
            self._acks[mid] = [c.value for c in codes]
            self._cond.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with self._cond:
            self._acks[mid] = reason.value
            self._cond.notify_all()

    def _wait_ack(self, mid: int, timeout: float) -> Any:
        with self._cond:
            if not self._cond.wait_for(lambda: mid in self._acks, timeout):
                raise TimeoutError(f"no acknowledgement of message {mid} in {timeout}s")
            return self._acks.pop(mid)

    # -- what the tests call --
    def connect(self, timeout: float = 10.0) -> Connack:
        """Connect and wait for the broker's answer: accepted, refused, or the connection
        closed (a TLS handshake the broker refused)."""
        try:
            self.client.connect("127.0.0.1", self.port, keepalive=30)
        except (OSError, ssl.SSLError) as e:
            return Connack(False, f"{type(e).__name__}: {e}")
        self.client.loop_start()
        with self._cond:
            if not self._cond.wait_for(lambda: self._connack is not None, timeout):
                return Connack(False, "no CONNACK")
            assert self._connack is not None
            return self._connack

    def subscribe(self, *filters: str, timeout: float = 10.0) -> list[int]:
        """Subscribe at QoS 1; the SUBACK's codes (1: granted QoS 1, 128: refused)."""
        rc, mid = self.client.subscribe([(f, 1) for f in filters])
        assert rc == mqtt.MQTT_ERR_SUCCESS and mid is not None
        codes: list[int] = self._wait_ack(mid, timeout)
        return codes

    def publish(self, topic: str, payload: bytes = b"x", *, retain: bool = False,
                timeout: float = 10.0) -> int:
        """Publish at QoS 1 and wait for the PUBACK; its reason code (MQTT 3.1.1: 0)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        code: int = self._wait_ack(info.mid, timeout)
        return code

    def next_message(self, timeout: float = 10.0) -> tuple[str, bytes, bool] | None:
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            return None

    def drop(self) -> None:
        """Close the connection without DISCONNECT (the broker sends the last will)."""
        sock = self.client.socket()
        if isinstance(sock, socket.socket):  # an SSLSocket is one too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.client.loop_stop()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.disconnect()
        self.client.loop_stop()


@contextlib.contextmanager
def connected(port: int, username: str | None, password: str | None, **kw: Any
              ) -> Iterator[Mqtt]:
    """A connection that must be accepted, closed at the end of the block."""
    c = Mqtt(port, username, password, **kw)
    try:
        ack = c.connect()
        assert ack.connected, f"{username} refused: {ack.reason}"
        yield c
    finally:
        c.close()
