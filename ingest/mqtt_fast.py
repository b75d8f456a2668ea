"""The ingester's fast MQTT path: :class:`FastIngestClient`, the default.

:class:`~subscriber.AckClient` (paho's public API only) plus three changes through
paho's internals (:data:`PAHO_PRIVATE_NAMES`, nothing else): a read-ahead socket, MQTT
3.1.1 PUBLISH packets cut straight out of its buffer, and a batch's PUBACKs in one write;
about a quarter of the public path's CPU per one-point message, half per point of
50-point packs.

``bench/ingest.py`` measured the public path below the pack target (0.578 and 0.565 of the
store's limit against 0.60) where the fast path met it (``bench/HISTORY.md``), so it
stays, on these terms: ``pyproject.toml`` pins paho-mqtt's minor version; at start the
ingester checks that the installed paho has every name (:func:`missing_private_names`),
and if one is missing it logs a WARNING, sets ``cityhub_ingest_mqtt_fast_path`` to 0 and
uses :class:`~subscriber.AckClient`; ``tests/test_public_api.py`` fails if any code of
the hub reaches for a private name not in the list.
"""

from __future__ import annotations

import logging
import ssl
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, time_func
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from subscriber import READ_SLICE_S, AckClient, MqttError

__all__ = ["PAHO_PRIVATE_NAMES", "FastIngestClient", "ReadAhead", "missing_private_names"]

log = logging.getLogger("cityhub.ingest.mqtt")

# paho's Client internals the fast path uses. The installed paho-mqtt must have every one
# (checked at start-up, missing_private_names(); pyproject.toml pins the minor version);
# tests/test_public_api.py holds this list to the code below.
PAHO_PRIVATE_NAMES = ("_sock", "_in_packet", "_handle_publish", "_msgtime_mutex",
                      "_last_bytes_received", "_packet_queue")

_CHUNK = 64 * 1024
# A PUBLISH cut off at the end of a chunk, up to this size, is completed by appending the
# next read; a larger one goes to paho's reader (no repeated copying of a huge packet).
_CARRY_MAX = 256 * 1024
_PUBACK = struct.Struct("!BBH")


def missing_private_names() -> list[str]:
    """The names of :data:`PAHO_PRIVATE_NAMES` the installed paho-mqtt lacks (empty: the
    fast path can run)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    missing = [n for n in PAHO_PRIVATE_NAMES if not hasattr(client, n)]
    if "_in_packet" not in missing and "command" not in client._in_packet:
        missing.append("_in_packet['command']")
    return missing


def _publish_parts(data: bytes | memoryview, start: int, end: int, qos: int
                   ) -> tuple[bytes, int, bytes] | None:
    """An MQTT 3.1.1 PUBLISH packet's variable header and payload, ``data[start:end]``:
    its topic, packet id (0 at QoS 0) and payload; None if it is malformed (its topic
    runs past the packet)."""
    if end - start < 2:
        return None
    topic_end = start + 2 + ((data[start] << 8) | data[start + 1])
    if topic_end + 2 * qos > end:
        return None
    mid = (data[topic_end] << 8) | data[topic_end + 1] if qos else 0
    return bytes(data[start + 2:topic_end]), mid, bytes(data[topic_end + 2 * qos:end])


class ReadAhead:
    """A socket whose ``recv`` serves small reads from one larger read.

    At most one read of the wrapped socket per :meth:`arm`: once the chunk is used up,
    ``recv`` says "would block" (paho then keeps its partial packet and returns) until
    the next readable event arms it again. The exception is a PUBLISH cut off at the end
    of the buffer (:attr:`short`): :meth:`fill` reads its rest whenever asked, since it is
    known to be on its way. Everything else goes to the wrapped socket (plain or SSL).
    """

    __slots__ = ("_armed", "_buf", "_eof", "_pos", "_short", "_sock")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buf = b""
        self._pos = 0
        self._armed = True
        self._eof = False
        self._short = False  # the buffer ends in a PUBLISH not wholly read (carried over)

    def arm(self) -> None:
        self._armed = True

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def recv(self, n: int) -> bytes:
        pos, buf = self._pos, self._buf
        if pos >= len(buf):
            if self._eof:
                return b""  # fill() met the end of the stream (or an error): paho's turn
            if not self._armed:
                raise BlockingIOError
            self._armed = False
            data: bytes = self._sock.recv(max(n, _CHUNK))  # may raise BlockingIOError
            if len(data) <= n:
                return data  # b"" when the peer closed
            self._buf, self._pos = data, n
            return data[:n]
        end = min(pos + n, len(buf))
        self._pos = end
        return buf[pos:end]

    @property
    def short(self) -> bool:
        """Whether the buffer ends in a PUBLISH that :meth:`take_publishes` left because
        it is not wholly read yet, and which :meth:`fill` completes."""
        return self._short and not self._eof

    def fill(self) -> int:
        """Read a chunk if nothing is buffered and the socket is armed, or if the buffer
        ends :attr:`short` of a PUBLISH (armed or not: the rest is on its way), appending
        it to those bytes; ``BlockingIOError`` or ``ssl.SSLWantReadError`` if the socket
        has nothing. How many bytes are buffered."""
        if self._eof:
            pass
        elif self._pos >= len(self._buf):
            if self._armed:
                self._armed = False
                self._buf, self._pos = self._read(), 0
        elif self._short:
            self._armed = False
            data = self._read()  # raises (the rest stays short) if nothing has come yet
            # The partial packet is copied again with each read that does not complete
            # it: at most _CARRY_MAX bytes a time, and a read brings up to _CHUNK.
            self._buf, self._pos, self._short = self._buf[self._pos:] + data, 0, False
        return len(self._buf) - self._pos

    def _read(self) -> bytes:
        try:
            data: bytes = self._sock.recv(_CHUNK)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except OSError:
            data = b""  # paho's next read finds the end: lost
        self._eof = not data
        return data

    def take_publishes(self, deliver: Callable[[bytes, int, int, bytes], None],
                       stop: Callable[[], bool]) -> int:
        """Hand each whole MQTT 3.1.1 PUBLISH packet of QoS 0 or 1 at the front of the
        buffer to ``deliver`` (topic, QoS, packet id, payload), straight from the bytes,
        until ``stop()`` says so or the next packet is anything else: another type, a
        QoS 2 or malformed PUBLISH, or one not wholly read yet. Those stay in the buffer
        for paho's own reader, except a PUBLISH not wholly read of at most
        ``_CARRY_MAX`` bytes, which :meth:`fill` completes (:attr:`short`). Returns how
        many were delivered."""
        buf, pos = self._buf, self._pos
        size = len(buf)
        count = 0
        self._short = False
        while pos < size:
            cmd = buf[pos]
            qos = (cmd >> 1) & 3
            if cmd >> 4 != 3 or qos > 1:
                break
            # The remaining length: 1 to 4 bytes, 7 bits each, least significant first.
            i, length, shift = pos + 1, 0, 0
            while i < size and shift < 28:
                b = buf[i]
                i += 1
                length |= (b & 0x7F) << shift
                shift += 7
                if b < 0x80:
                    break
            else:
                # Not all read yet (fill() reads the rest), or longer than 4 bytes (paho
                # refuses it).
                self._short = i >= size and shift < 28
                break
            end = i + length
            if end > size:
                self._short = end - pos <= _CARRY_MAX
                break
            parts = _publish_parts(buf, i, end, qos)
            if parts is None:
                break  # malformed: paho drops the connection
            self._pos = pos = end  # taken before delivery, which may pause reading
            topic, mid, payload = parts
            deliver(topic, qos, mid, payload)
            count += 1
            if stop():
                break
        return count

    def pending(self) -> int:
        """Bytes read and not yet handed out, plus those an SSL socket holds."""
        inner = self._sock.pending() if hasattr(self._sock, "pending") else 0
        return self.buffered() + int(inner)

    def send(self, data: bytes) -> int:
        return int(self._sock.send(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class FastIngestClient(AckClient):
    """:class:`~subscriber.AckClient` with the I/O a high-rate consumer needs, through paho's
    internals (:data:`PAHO_PRIVATE_NAMES`): use it only where
    :func:`missing_private_names` finds none missing.

    - **Read-ahead, and whole PUBLISH packets taken from it.** :class:`ReadAhead` stands in
      for paho's socket so one ``recv`` of up to 64 KiB serves many packets. With MQTT
      3.1.1, every whole QoS 0 or 1 PUBLISH packet in that chunk is cut out of it directly
      (:meth:`ReadAhead.take_publishes`: a few slices, no ``MQTTMessage``, no logging, no
      topic matching); a PUBLISH cut off at the end of a chunk is completed by the next
      read, unless it is larger than ``_CARRY_MAX``. Every other packet, such a large
      PUBLISH, and all of MQTT 5 (properties), go through paho's reader, fed from the
      read-ahead buffer.
    - **PUBACKs in one write.** :meth:`ack` queues a stored batch's PUBACKs (four bytes
      each, in MQTT 3.1.1 and 5) as one packet for paho to write, instead of one write
      per message.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        paho = self._paho
        self._take = not self._v5  # PUBLISH packets parsed here (MQTT 5 has properties)
        if self._take:
            self._paho_publish = paho._handle_publish
            paho._handle_publish = self._handle_publish  # type: ignore[method-assign]

    def _wrap(self, sock: Any) -> Any:
        # On the connecting thread, before paho writes its CONNECT.
        ahead = ReadAhead(sock)
        self._paho._sock = ahead  # type: ignore[assignment]
        return ahead

    def _deliver_raw(self, topic: bytes, qos: int, mid: int, payload: bytes) -> None:
        try:
            text: str | None = topic.decode()
        except UnicodeDecodeError:
            text = None
        self._deliver(text, qos, mid, payload)

    def _handle_publish(self) -> MQTTErrorCode:
        """paho's PUBLISH handler, lean, for MQTT 3.1.1 at QoS 0 and 1."""
        packet = self._paho._in_packet
        qos = (packet["command"] & 0x06) >> 1
        if qos == 2:
            return self._paho_publish()
        data = memoryview(packet["packet"])
        parts = _publish_parts(data, 0, len(data), qos)
        if parts is None:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL  # paho then drops the connection
        self._deliver_raw(parts[0], qos, parts[1], parts[2])
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _stop_taking(self) -> bool:
        return self._paused

    def _on_readable(self) -> None:
        paho = self._paho
        sock = paho._sock
        if not isinstance(sock, ReadAhead) or self._paused:
            return
        try:
            if sock.buffered() == 0:
                sock.arm()
            until = time.perf_counter() + READ_SLICE_S
            while not self._paused:
                if self._take and paho._in_packet["command"] == 0 and sock.fill():
                    # Bytes came (paho's keepalive clock counts them, whole packets or
                    # the first part of one).
                    with paho._msgtime_mutex:
                        paho._last_bytes_received = time_func()
                    sock.take_publishes(self._deliver_raw, self._stop_taking)
                    if self._paused or sock.buffered() == 0:
                        break
                    if not sock.short:
                        # What the fast path leaves (another packet type, a large or
                        # malformed PUBLISH): one packet, paho's reader.
                        paho.loop_read()
                    # (else the next fill() reads the rest of the PUBLISH it was short of)
                else:  # MQTT 5, or the rest of a packet paho's reader began
                    paho.loop_read()
                if paho._sock is not sock or sock.buffered() == 0 \
                        or time.perf_counter() >= until:
                    break
            # Bytes read ahead (or held by an SSL socket) and not yet handled: carry on at
            # the next turn of the loop, after the tasks that are ready (the store writes).
            if paho._sock is sock and not self._paused and sock.pending() > 0:
                assert self._loop is not None
                self._loop.call_soon(self._on_readable)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass  # fill() found nothing to read: wait for the next readable event
        except Exception as e:  # a broken connection, or on_publish failed
            log.warning("ingest: reading from the broker failed: %r", e)
            self._drop(MqttError(f"reading from the broker failed: {e!r}"))

    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages ``mids`` (in that order) with one queued write."""
        packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
        if packet:
            self._paho._packet_queue(PUBACK, packet, 0, 0)
