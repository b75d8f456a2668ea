"""The ingester's MQTT client: aiomqtt's, with the I/O a high-rate consumer needs.

aiomqtt's client with four changes, all about moving thousands of messages a second
without letting them pile up in memory:

- **Manual acknowledgements, decoded in paho's read loop.** Each message goes to the
  ``on_publish`` callback as its packet is parsed; nothing is acknowledged until
  :meth:`IngestClient.ack`.
- **Read-ahead, and whole PUBLISH packets taken from it.** :class:`ReadAhead` wraps
  paho's socket so one ``recv`` of up to 64 KiB serves many packets. With MQTT 3.1.1,
  every whole QoS 0 or 1 PUBLISH packet in that chunk is cut out of it directly
  (:meth:`ReadAhead.take_publishes`: a few slices, about 7 µs a message against 17-23 µs
  through paho's reader, which reads each packet with two to six ``recv`` calls and a
  state machine in Python). A PUBLISH cut off at the end of a chunk is completed by the
  next read, appended to it (:meth:`ReadAhead.fill`), unless it is larger than
  ``_CARRY_MAX``. Every other packet, such a large PUBLISH, and all of MQTT 5, go
  through paho's reader as before. The reader works in slices of at most 2 ms
  and then lets the event loop's other tasks (the store writes) run, so a busy stream
  does not delay the writes that let it be acknowledged.
- **PUBACKs in one write.** :meth:`IngestClient.ack` queues the PUBACKs of a stored batch
  as one write instead of one write per message. A PUBACK for QoS 1 is four bytes in MQTT
  3.1.1 and in MQTT 5 (which may leave out a Success reason code).
- **A reader that pauses.** The ingester pauses reading while it holds its limit of
  unacknowledged messages, and TCP flow control makes the broker keep the rest. The broker's
  own window cannot be relied on for this: Mosquitto 2.0.11 respects ``max_inflight_messages``
  (and an MQTT 5 Receive Maximum) only until the first PUBACK, then sends everything it has
  queued (``tests/ingest/test_backpressure.py`` shows both).

It reaches into aiomqtt's and paho's internals (``_on_socket_open``, ``_misc_loop``,
``_disconnected``, paho's ``_sock`` and ``_packet_queue``); ``pyproject.toml`` pins both
below their next major version, and the end-to-end tests exercise every path.
"""

from __future__ import annotations

import contextlib
import ssl
import struct
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiomqtt
from paho.mqtt.client import PUBACK, MQTTMessage, MQTTv5, time_func
from paho.mqtt.enums import MQTTErrorCode

__all__ = ["IngestClient", "ReadAhead"]

_CHUNK = 64 * 1024
# A PUBLISH cut off at the end of a chunk, up to this size, is completed by appending the
# next read; a larger one goes to paho's reader (no repeated copying of a huge packet).
_CARRY_MAX = 256 * 1024
_SLICE_S = 0.002  # the longest the reader keeps the event loop at a time
_PUBACK = struct.Struct("!BBH")


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

    def take_publishes(self, deliver: OnPublish, stop: Callable[[], bool]) -> int:
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


OnPublish = Callable[[bytes, int, int, bytes], None]
"""``on_publish(topic, qos, mid, payload)``: one message, the topic as raw bytes."""


class IngestClient(aiomqtt.Client):
    """An :class:`aiomqtt.Client` that hands each message to ``on_publish`` inside
    paho's read loop, acknowledges only on :meth:`ack`, and reads only while not
    :meth:`pause_reading`.

    With MQTT 3.1.1, QoS 0 and 1 PUBLISH packets are parsed here (topic, packet id,
    payload: a few slices) instead of by paho, which builds an ``MQTTMessage``, logs and
    matches the topic against per-filter callbacks for every message; QoS 2 and MQTT 5
    (properties) stay with paho.
    """

    def __init__(self, *args: Any, on_publish: OnPublish, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        paho = self._client
        paho.manual_ack_set(True)
        self._deliver = on_publish
        paho.on_message = self._from_paho
        # MQTT 3.1.1: PUBLISH packets are parsed here, whole ones taken from the read-ahead
        # buffer before paho's reader sees them (an MQTT 5 PUBLISH carries properties).
        self._fast = paho._protocol != MQTTv5
        if self._fast:
            self._paho_publish = paho._handle_publish
            paho._handle_publish = self._handle_publish  # type: ignore[method-assign]
        self._reading_fd = -1
        self._paused = False

    def _from_paho(self, _client: Any, _userdata: Any, msg: MQTTMessage) -> None:
        self._deliver(bytes(msg._topic), msg.qos, msg.mid, bytes(msg.payload))

    def _handle_publish(self) -> MQTTErrorCode:
        """paho's PUBLISH handler, lean, for MQTT 3.1.1 at QoS 0 and 1."""
        packet = self._client._in_packet
        qos = (packet["command"] & 0x06) >> 1
        if qos == 2:
            return self._paho_publish()
        data = memoryview(packet["packet"])
        parts = _publish_parts(data, 0, len(data), qos)
        if parts is None:
            return MQTTErrorCode.MQTT_ERR_PROTOCOL  # paho then drops the connection
        topic, mid, payload = parts
        self._deliver(topic, qos, mid, payload)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    # -- reading ----------------------------------------------------------------------
    def _on_socket_open(self, client: Any, userdata: Any, sock: Any) -> None:
        # paho calls this on the thread where aiomqtt runs connect(): hand over to the loop.
        client._sock = ReadAhead(sock)
        self._loop.call_soon_threadsafe(self._start_reading, sock.fileno())

    def _start_reading(self, fd: int) -> None:
        self._reading_fd = fd
        if not self._paused:
            self._loop.add_reader(fd, self._on_readable)
        self._misc_task = self._loop.create_task(self._misc_loop())

    def _on_readable(self) -> None:
        paho = self._client
        sock = paho._sock
        if not isinstance(sock, ReadAhead) or self._paused:
            return
        try:
            if sock.buffered() == 0:
                sock.arm()
            until = time.perf_counter() + _SLICE_S
            while not self._paused:
                if self._fast and paho._in_packet["command"] == 0 and sock.fill():
                    # Bytes came (paho's keepalive clock counts them, whole packets or
                    # the first part of one).
                    with paho._msgtime_mutex:
                        paho._last_bytes_received = time_func()
                    sock.take_publishes(self._deliver, self._stop_taking)
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
                self._loop.call_soon(self._on_readable)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass  # fill() found nothing to read: wait for the next readable event
        except Exception as exc:  # a broken connection, as aiomqtt treats it
            # Close the socket too: aiomqtt's exit skips its disconnect once this is set,
            # and an open socket would keep this reader handling the same packet.
            with contextlib.suppress(Exception):
                paho._sock_close()
            if not self._disconnected.done():
                self._disconnected.set_exception(
                    exc if isinstance(exc, aiomqtt.MqttError)
                    else aiomqtt.MqttError(f"reading from the broker failed: {exc!r}"))

    def _stop_taking(self) -> bool:
        return self._paused

    def pause_reading(self) -> None:
        """Stop reading: what the broker sends waits in the socket buffers, then with
        the broker."""
        if not self._paused:
            self._paused = True
            if self._reading_fd >= 0:
                self._loop.remove_reader(self._reading_fd)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._reading_fd >= 0 and self._client._sock is not None:
                self._loop.add_reader(self._reading_fd, self._on_readable)
                self._loop.call_soon(self._on_readable)  # what was read ahead already

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue a publish without waiting for the broker's PUBACK (which, while reading
        is paused, would not be read until it resumes)."""
        self._client.publish(topic, payload, qos=qos)

    # -- acknowledging ----------------------------------------------------------------
    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages ``mids`` (in that order) with one queued write."""
        packet = b"".join([_PUBACK.pack(PUBACK, 2, mid) for mid in mids])
        if packet:
            self._client._packet_queue(PUBACK, packet, 0, 0)
