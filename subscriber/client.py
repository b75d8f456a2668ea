"""A consumer's MQTT client that acknowledges only when told: paho-mqtt on asyncio.

The services that consume telemetry (the ingester, the analytics service) must
acknowledge a message only once what they made of it is durable, and must stop reading
while they hold ``max_inflight`` unacknowledged messages. aiomqtt hands each message to a
queue and acknowledges it at once; aiomqtt 2.x has neither switch in its public API
(manual acknowledgements are an open request there), so this module drives a
:class:`paho.mqtt.client.Client` itself, with paho's documented external-event-loop API,
the one aiomqtt is built on:

- ``on_socket_open`` / ``on_socket_close`` / ``on_socket_register_write`` /
  ``on_socket_unregister_write`` tell the event loop which socket to watch;
  ``loop_read()``, ``loop_write()`` and, once a second, ``loop_misc()`` (keepalive) do
  the work. ``connect()`` (TCP connect, TLS handshake) runs in a worker thread.
- ``manual_ack_set(True)`` and ``ack(mid, qos)``: :meth:`AckClient.ack` acknowledges a
  batch's messages in the order they came; paho writes the PUBACKs at the next write
  event, together.
- ``on_message`` hands each message to the consumer's ``on_publish`` as paho parses it,
  inside the read event: no task and no queue per message.
- **A reader that pauses.** :meth:`AckClient.pause_reading` takes the socket off the
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

:class:`AckClient` touches no private name of paho or aiomqtt, and works with any
paho-mqtt 2.x from 2.1 on. It costs about 17-25 us of CPU per message (paho reads a packet
with three ``recv`` calls and builds an ``MQTTMessage``, and writes each PUBACK with its
own ``send``), and with MQTT 5 about twice that (paho parses every message's properties).
The ingester's default, :class:`~ingest.mqtt_fast.FastIngestClient`, is this client plus
three changes through paho's internals, on the terms ``docs/ingest.md`` gives (a pinned
paho-mqtt minor version, a start-up check, a loud fall-back to this client).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["READ_SLICE_S", "AckClient", "MqttError", "OnPublish"]

log = logging.getLogger("cityhub.subscriber")

READ_SLICE_S = 0.002  # the longest a read event keeps the event loop (both paths)
_CLOSE_TIMEOUT_S = 5.0  # for the broker to take a DISCONNECT before the socket is closed

OnPublish = Callable[[str | None, int, int, bytes], None]
"""``on_publish(topic, qos, mid, payload)``: one message; ``topic`` is None when it is not
UTF-8 (paho then has no text for it)."""


class MqttError(Exception):
    """The broker could not be reached, refused the connection or a subscription, or
    the connection was lost."""


class AckClient:
    """One MQTT connection of a consumer, an async context manager: connected on
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
    async def __aenter__(self) -> AckClient:
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
            async with asyncio.timeout(max(10.0, 1.5 * self._keepalive)):
                await asyncio.shield(self._connected)
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
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await asyncio.shield(self._lost)
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
        until = time.perf_counter() + READ_SLICE_S
        while not self._paused:
            before = self._delivered
            try:
                if paho.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    return  # the connection is gone; paho closed it and said so
            except Exception as e:  # raised by on_message: paho's packet state is lost
                log.exception("mqtt: reading from the broker failed")
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

    # -- what the consumer calls ------------------------------------------------------
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
            async with asyncio.timeout(timeout):
                codes = await fut
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
