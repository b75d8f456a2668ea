"""The ingester's MQTT client: paho-mqtt on asyncio; a public path, and a fast one.

aiomqtt hands each message to a queue and acknowledges it at once; the ingester must
acknowledge a message only once its reading is durable, and must stop reading while it
holds ``max_inflight`` unacknowledged messages. aiomqtt 2.x has neither switch in its public
API (manual acknowledgements are an open request there), so this module drives a
:class:`paho.mqtt.client.Client` itself, with paho's documented external-event-loop API,
the one aiomqtt is built on:

- ``on_socket_open`` / ``on_socket_close`` / ``on_socket_register_write`` /
  ``on_socket_unregister_write`` tell the event loop which socket to watch;
  ``loop_read()``, ``loop_write()`` and, once a second, ``loop_misc()`` (keepalive) do
  the work. ``connect()`` (TCP connect, TLS handshake) runs in a worker thread.
- ``manual_ack_set(True)`` and ``ack(mid, qos)``: :meth:`IngestClient.ack` acknowledges a
  stored batch's messages in the order they came; paho writes the PUBACKs at the next
  write event, together.
- ``on_message`` hands each message to the ingester's ``on_publish`` as paho parses it,
  inside the read event: no task and no queue per message.
- **A reader that pauses.** :meth:`IngestClient.pause_reading` takes the socket off the
  event loop; what the broker sends then waits in the socket buffers, then with the broker
  (TCP flow control). The broker's own window cannot be relied on for this: Mosquitto
  2.0.11 respects ``max_inflight_messages`` (and an MQTT 5 Receive Maximum) only until the
  first PUBACK, then sends everything it has queued
  (``tests/ingest/test_backpressure.py`` shows both).

A read event reads packets (paho reads one per ``loop_read()``) until one brings no message
or 2 ms have passed, then lets the event loop's other tasks (the store writes) run, so a
busy stream does not delay the writes that let it be acknowledged. With TLS, bytes the
SSL object has already decrypted (``SSLSocket.pending()``) are read at the next turn of
the loop, since the socket will not signal them again.

:class:`IngestClient` touches no private name of paho or aiomqtt, and works with any
paho-mqtt 2.x from 2.1 on. It costs about 17-25 us of CPU per message (paho reads a packet
with three ``recv`` calls and builds an ``MQTTMessage``, and writes each PUBACK with its
own ``send``), and with MQTT 5 about twice that (paho parses every message's properties).

:class:`FastIngestClient`, the default, is that client plus three changes through paho's
internals (:data:`PAHO_PRIVATE_NAMES`, nothing else): a read-ahead socket, MQTT 3.1.1
PUBLISH packets cut straight out of its buffer, and a batch's PUBACKs in one write; about
a quarter of the public path's CPU per message. ``bench/ingest.py`` measured the public
path below the pack target (0.578 and 0.565 of the store's limit against 0.60) where the
fast path met it (``bench/HISTORY.md``), so it stays, on these terms: ``pyproject.toml``
pins paho-mqtt's minor version; at start the ingester checks that the installed paho has
every name (:func:`missing_private_names`), and if one is missing it logs a WARNING, sets
``cityhub_ingest_mqtt_fast_path`` to 0 and uses :class:`IngestClient`;
``tests/ingest/test_public_api.py`` fails if the code reaches for a private name not in
the list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.client import PUBACK, time_func
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["PAHO_PRIVATE_NAMES", "FastIngestClient", "IngestClient", "MqttError", "OnPublish",
           "ReadAhead", "missing_private_names"]

log = logging.getLogger("cityhub.ingest.mqtt")

_SLICE_S = 0.002  # the longest a read event keeps the event loop
_CLOSE_TIMEOUT_S = 5.0  # for the broker to take a DISCONNECT before the socket is closed

OnPublish = Callable[[str | None, int, int, bytes], None]
"""``on_publish(topic, qos, mid, payload)``: one message; ``topic`` is None when it is not
UTF-8 (paho then has no text for it)."""


class MqttError(Exception):
    """The broker could not be reached, refused the connection or a subscription, or
    the connection was lost."""


class IngestClient:
    """One MQTT connection of the ingester, an async context manager: connected on
    entry, disconnected on exit.

    Each message goes to ``on_publish`` as it is read; none is acknowledged until
    :meth:`ack`; reading stops on :meth:`pause_reading` and goes on with
    :meth:`resume_reading`. :meth:`disconnected` raises :class:`MqttError` when the
    connection drops.
    """

    def __init__(self, host: str, port: int, *, client_id: str, on_publish: OnPublish,
                 protocol: str = "3.1.1", clean: bool = False,
                 properties: Properties | None = None, username: str | None = None,
                 password: str | None = None, keepalive: int = 30,
                 tls_context: ssl.SSLContext | None = None, ack_timeout_s: float = 10.0
                 ) -> None:
        self._host, self._port, self._keepalive = host, port, keepalive
        self._ack_timeout_s = ack_timeout_s
        self._v5 = protocol == "5"
        self._clean = clean
        self._properties = properties
        self._deliver = on_publish
        self._paho = paho = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id,
            protocol=MQTTProtocolVersion.MQTTv5 if self._v5 else MQTTProtocolVersion.MQTTv311,
            clean_session=None if self._v5 else clean)
        paho.manual_ack_set(True)
        if username is not None:
            paho.username_pw_set(username, password)
        if tls_context is not None:
            paho.tls_set_context(tls_context)
        paho.on_message = self._on_message
        paho.on_connect = self._on_connect
        paho.on_disconnect = self._on_disconnect
        paho.on_subscribe = self._on_suback
        paho.on_unsubscribe = self._on_suback
        paho.on_socket_open = self._on_socket_open
        paho.on_socket_close = self._on_socket_close
        paho.on_socket_register_write = self._on_register_write
        paho.on_socket_unregister_write = self._on_unregister_write
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = -1
        self._connected: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._sock: Any = None  # the socket on the event loop, as paho gave it
        self._fd = -1
        self._writing = False
        self._paused = False
        self._delivered = 0
        self._misc: asyncio.Task[None] | None = None
        self._closing = False

    # -- connecting -------------------------------------------------------------------
    async def __aenter__(self) -> IngestClient:
        loop = self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._connected = loop.create_future()
        self._lost = loop.create_future()
        self._lost.add_done_callback(_retrieve)
        kwargs: dict[str, Any] = {}
        if self._v5:
            kwargs = {"clean_start": self._clean, "properties": self._properties}
        try:
            # connect() blocks (TCP connect, TLS handshake): a worker thread does it.
            await loop.run_in_executor(None, lambda: self._paho.connect(
                self._host, self._port, self._keepalive, **kwargs))
        except (OSError, ValueError) as e:  # ssl.SSLError is an OSError
            self._close_socket()
            raise MqttError(f"cannot connect to {self._host}:{self._port}: {e}") from None
        try:
            # The broker answers a CONNECT at once; a keepalive is long enough to wait.
            await asyncio.wait_for(asyncio.shield(self._connected),
                                   max(10.0, 1.5 * self._keepalive))
        except BaseException as e:
            self._close_socket()
            if isinstance(e, TimeoutError):
                raise MqttError(f"no CONNACK from {self._host}:{self._port}") from None
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Disconnect cleanly (the session stays, unless it was a clean one), or close the
        socket if the broker does not take the DISCONNECT in time."""
        assert self._lost is not None
        self._closing = True
        if not self._lost.done() and self._paho.is_connected():
            self._paho.disconnect()
            with contextlib.suppress(TimeoutError, MqttError):
                await asyncio.wait_for(asyncio.shield(self._lost), _CLOSE_TIMEOUT_S)
        self._close_socket()
        if self._misc is not None:
            self._misc.cancel()
        self._fail_pending(MqttError("disconnected"))

    async def disconnected(self) -> None:
        """Wait until the connection drops, then raise :class:`MqttError`."""
        assert self._lost is not None
        await asyncio.shield(self._lost)
        raise MqttError("disconnected")

    def _close_socket(self) -> None:
        """Take the socket off the event loop and close it (only where paho did not:
        a failed connect, or a broker that does not take the DISCONNECT); paho's socket
        callbacks are let go, as the client is done with."""
        paho = self._paho
        sock = paho.socket()
        self._unwatch()
        paho.on_socket_open = paho.on_socket_close = None
        paho.on_socket_register_write = paho.on_socket_unregister_write = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()

    def _unwatch(self) -> None:
        if self._fd >= 0 and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._fd)
            self._loop.remove_writer(self._fd)
        self._fd, self._sock, self._writing = -1, None, False

    # -- paho's callbacks -------------------------------------------------------------
    def _in_loop(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the event loop: now if called from it, else soon (paho calls
        back from the connecting thread too)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        if threading.get_ident() == self._thread:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, rc: ReasonCode,
                    _props: Any) -> None:
        def done() -> None:
            fut = self._connected
            if fut is None or fut.done():
                return
            if rc.is_failure:
                fut.set_exception(MqttError(f"the broker refused the connection: {rc}"))
            else:
                fut.set_result(None)
        self._in_loop(done)

    def _on_disconnect(self, _c: Any, _u: Any, _flags: Any, rc: ReasonCode,
                       _props: Any) -> None:
        def done() -> None:
            err = MqttError(f"connection lost: {rc}")
            if self._connected is not None and not self._connected.done():
                self._connected.set_exception(err)
            if self._lost is not None and not self._lost.done():
                if self._closing:
                    self._lost.set_result(None)
                else:
                    self._lost.set_exception(err)
            self._fail_pending(err)
        self._in_loop(done)

    def _fail_pending(self, err: MqttError) -> None:
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(err)

    def _on_suback(self, _c: Any, _u: Any, mid: int, codes: list[ReasonCode],
                   _props: Any) -> None:
        fut = self._pending.get(mid)
        if fut is not None and not fut.done():
            fut.set_result(codes)

    def _on_socket_open(self, _c: Any, _u: Any, sock: Any) -> None:
        fd = int(sock.fileno())
        sock = self._wrap(sock)

        def watch() -> None:
            if self._paho.socket() is not sock:
                return  # closed again meanwhile
            assert self._loop is not None
            self._sock, self._fd = sock, fd
            if not self._paused:
                self._loop.add_reader(self._fd, self._on_readable)
            if self._misc is None:
                self._misc = self._loop.create_task(self._misc_loop())
        self._in_loop(watch)

    def _wrap(self, sock: Any) -> Any:
        """The socket to watch (the fast path puts its read-ahead in between)."""
        return sock

    def _on_socket_close(self, _c: Any, _u: Any, sock: Any) -> None:
        # (From the connecting thread only when connecting failed: never watched then.)
        if threading.get_ident() == self._thread and sock is self._sock:
            self._unwatch()

    def _on_register_write(self, _c: Any, _u: Any, sock: Any) -> None:
        def watch() -> None:
            if sock is self._sock and not self._writing:
                assert self._loop is not None
                self._writing = True
                self._loop.add_writer(self._fd, self._on_writable)
        self._in_loop(watch)

    def _on_unregister_write(self, _c: Any, _u: Any, sock: Any) -> None:
        def unwatch() -> None:
            if sock is self._sock and self._writing:
                assert self._loop is not None
                self._writing = False
                self._loop.remove_writer(self._fd)
        self._in_loop(unwatch)

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._delivered += 1
        try:
            topic: str | None = msg.topic
        except UnicodeDecodeError:
            topic = None
        payload = msg.payload
        self._deliver(topic, msg.qos, msg.mid,
                      payload if isinstance(payload, bytes) else bytes(payload))

    # -- the event loop's side --------------------------------------------------------
    def _on_readable(self) -> None:
        paho, sock = self._paho, self._sock
        until = time.perf_counter() + _SLICE_S
        while not self._paused:
            before = self._delivered
            try:
                if paho.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return  # the connection is gone; paho closed it and said so
            except Exception as e:  # raised by on_message: paho's packet state is lost
                log.exception("ingest: reading from the broker failed")
                self._drop(MqttError(f"reading from the broker failed: {e!r}"))
                return
            if self._delivered == before or self._sock is not sock:
                break  # no whole message came (or another packet): wait for the socket
            if time.perf_counter() >= until:
                # Let the tasks that are ready (the store writes) run, then go on.
                assert self._loop is not None
                self._loop.call_soon(self._on_readable)
                return
        # Bytes an SSL socket decrypted already: the socket will not signal them again.
        if not self._paused and sock is self._sock and sock is not None \
                and hasattr(sock, "pending") and sock.pending() > 0:
            assert self._loop is not None
            self._loop.call_soon(self._on_readable)

    def _drop(self, err: MqttError) -> None:
        """End the connection after an error paho did not handle."""
        self._close_socket()
        if self._lost is not None and not self._lost.done():
            self._lost.set_exception(err)
        self._fail_pending(err)

    def _on_writable(self) -> None:
        self._paho.loop_write()  # unregisters itself once everything is written

    async def _misc_loop(self) -> None:
        """Keepalive: paho sends PINGREQ and notices a broker that stopped answering."""
        while True:
            if self._paho.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return  # the connection is gone; paho closed it and said so
            await asyncio.sleep(1)

    # -- what the ingester calls ------------------------------------------------------
    def pause_reading(self) -> None:
        """Stop reading: what the broker sends waits in the socket buffers, then with
        the broker."""
        if not self._paused:
            self._paused = True
            if self._fd >= 0 and self._loop is not None:
                self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if self._paused:
            self._paused = False
            if self._fd >= 0 and self._loop is not None:
                self._loop.add_reader(self._fd, self._on_readable)
                self._loop.call_soon(self._on_readable)  # what TLS decrypted already

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe, and wait (at most ``ack_timeout_s``) for the broker's SUBACK."""
        rc, mid = self._paho.subscribe(topic, qos)
        await self._acknowledged("subscribe to", topic, rc, mid)

    async def unsubscribe(self, topic: str) -> None:
        """Unsubscribe, and wait (at most ``ack_timeout_s``) for the UNSUBACK."""
        rc, mid = self._paho.unsubscribe(topic)
        await self._acknowledged("unsubscribe from", topic, rc, mid)

    async def _acknowledged(self, what: str, topic: str, rc: MQTTErrorCode, mid: int | None
                            ) -> None:
        timeout = self._ack_timeout_s
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"cannot {what} {topic}: {mqtt.error_string(rc)}")
        assert self._loop is not None
        fut = self._pending[mid] = self._loop.create_future()
        try:
            codes = await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise MqttError(f"no answer to {what} {topic} in {timeout:.0f}s") from None
        finally:
            self._pending.pop(mid, None)
        bad = [c for c in codes if c.is_failure]
        if bad:
            raise MqttError(f"the broker refused to {what} {topic}: {bad[0]}")

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 1) -> None:
        """Queue a publish without waiting for the broker's PUBACK (which, while reading
        is paused, would not be read until it resumes)."""
        self._paho.publish(topic, payload, qos=qos)

    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge QoS 1 messages ``mids``, in that order (written together at the
        next write event)."""
        ack = self._paho.ack
        for mid in mids:
            ack(mid, 1)


def _retrieve(fut: asyncio.Future[None]) -> None:
    """Mark a lost connection's error as seen (it is raised by :meth:`disconnected`,
    if anyone waits)."""
    if not fut.cancelled():
        fut.exception()


# -- the fast path ----------------------------------------------------------------------
# paho's Client internals the fast path uses. The installed paho-mqtt must have every one
# (checked at start-up, missing_private_names(); pyproject.toml pins the minor version);
# tests/ingest/test_public_api.py holds this list to the code below.
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


class FastIngestClient(IngestClient):
    """:class:`IngestClient` with the I/O a high-rate consumer needs, through paho's
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
            until = time.perf_counter() + _SLICE_S
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
