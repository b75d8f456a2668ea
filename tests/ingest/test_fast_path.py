"""The fast MQTT path (``ingest/mqtt_fast.py``: :class:`FastIngestClient`): its
read-ahead socket, and the start-up check that falls back, loudly, to paho's public API
when the installed paho-mqtt lacks an internal it uses."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from cityhub.config.pack import CityPack
from devservices import LocalMosquitto
from ingest import mqtt_fast
from ingest.mqtt_fast import _CARRY_MAX, FastIngestClient, ReadAhead
from subscriber import AckClient
from tests.ingest.test_backpressure import GatedStore, ingester, one_reading
from tests.ingest.test_end_to_end import T0, publish, running, until


@pytest.mark.integration
@pytest.mark.timeout(120)
@pytest.mark.parametrize("missing", [False, True])
async def test_a_missing_paho_internal_means_the_public_path_and_a_warning(
        small_pack: CityPack, mosquitto: LocalMosquitto, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        missing: bool) -> None:
    """paho-mqtt 2.1.0 has no ``_last_bytes_received``: an internal the fast path needs
    and the installed paho lacks (here, one made up) sends the ingester to paho's public
    API, with a WARNING naming it and ``cityhub_ingest_mqtt_fast_path 0``; it then stores
    every message as before. With nothing missing, the fast path and no warning."""
    if missing:
        monkeypatch.setattr(mqtt_fast, "PAHO_PRIVATE_NAMES",
                            (*mqtt_fast.PAHO_PRIVATE_NAMES, "_not_in_any_paho"))
    store = GatedStore(open_writes=10**6)
    with caplog.at_level(logging.WARNING, "cityhub.ingest"):
        ing = ingester(small_pack, mosquitto.port, store, tmp_path)
    warned = [r.getMessage() for r in caplog.records if "fast MQTT path" in r.getMessage()]
    metrics = generate_latest(ing.registry).decode()
    if missing:
        assert len(warned) == 1 and "_not_in_any_paho" in warned[0], warned
        assert "cityhub_ingest_mqtt_fast_path 0.0" in metrics
    else:
        assert warned == []
        assert "cityhub_ingest_mqtt_fast_path 1.0" in metrics
    topic = f"city/{small_pack.city.id}/traffic/gw-a"
    async with running(ing):
        assert type(ing._mqtt) is (AckClient if missing else FastIngestClient)
        await publish(mosquitto, [(topic, one_reading(i)) for i in range(200)])
        await until(lambda: ing.counters.acked == 200, "every message handled")
    assert sorted(p.time_ns for p in store.points) == [(T0 + i) * 10**9 for i in range(200)]


def test_the_public_path_when_asked_for(small_pack: CityPack, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    """``mqtt_fast_path: false``: the public API, without a warning."""
    with caplog.at_level(logging.WARNING, "cityhub.ingest"):
        ing = ingester(small_pack, 1883, GatedStore(0), tmp_path, mqtt_fast_path=False)
    assert not ing.fast_mqtt and caplog.records == []
    assert "cityhub_ingest_mqtt_fast_path 0.0" in generate_latest(ing.registry).decode()


def test_read_ahead_serves_small_reads_from_one_read() -> None:
    """Real sockets: one read of the wrapped socket per arm, never more bytes than
    asked, and a large request gets only what is buffered (paho keeps the rest of a
    packet for the next readable event)."""
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        r = ReadAhead(a)
        b.sendall(b"\x30\x05hello" + b"\x30\x03abc")
        assert r.recv(1) == b"\x30"
        assert r.pending() == 11
        assert r.recv(1) == b"\x05"
        assert r.recv(5) == b"hello"
        assert r.recv(2) == b"\x30\x03"
        assert r.recv(1000) == b"abc"  # no more than is buffered
        assert r.buffered() == 0
        with pytest.raises(BlockingIOError):  # used up, not armed: no second read
            r.recv(1)
        b.sendall(b"xyz")
        r.arm()
        assert r.recv(10) == b"xyz"  # a read no larger than asked is handed out whole
        r.arm()
        with pytest.raises(BlockingIOError):  # nothing there: the socket says so
            r.recv(1)
    finally:
        a.close()
        b.close()


def _publish_packet(topic: bytes, payload: bytes, qos: int, mid: int = 0) -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + (mid.to_bytes(2, "big") if qos else b"") \
        + payload
    size, length = len(body), bytearray()
    while True:
        size, digit = divmod(size, 128)
        length.append(digit | (0x80 if size else 0))
        if not size:
            return bytes([0x30 | qos << 1]) + bytes(length) + body


def test_whole_publish_packets_are_taken_from_the_buffer_and_the_rest_left_to_paho(
        ) -> None:
    """Real sockets: whole QoS 0 and 1 PUBLISH packets (one-byte and multi-byte remaining
    lengths) are delivered from the read-ahead buffer; the first packet of another kind,
    a QoS 2 one, one not wholly read and a malformed one stay for paho's reader, byte for
    byte; ``stop`` is honoured after each delivery."""
    a, b = socket.socketpair()
    a.setblocking(False)
    big = bytes(range(256)) * 2
    first = [_publish_packet(b"city/x/traffic/gw", b"[1]", 1, 7),
             _publish_packet(b"t", big, 0), _publish_packet(b"t2", big, 1, 65535)]
    pingresp = b"\xd0\x00"
    try:
        r = ReadAhead(a)
        got: list[tuple[bytes, int, int, bytes]] = []

        def deliver(topic: bytes, qos: int, mid: int, payload: bytes) -> None:
            got.append((topic, qos, mid, payload))
        b.sendall(b"".join(first) + pingresp + first[0])
        assert r.fill() == len(b"".join(first)) + 2 + len(first[0])
        assert r.take_publishes(deliver, lambda: False) == 3
        assert got == [(b"city/x/traffic/gw", 1, 7, b"[1]"), (b"t", 0, 0, big),
                       (b"t2", 1, 65535, big)]
        assert r.take_publishes(deliver, lambda: False) == 0  # a PINGRESP: paho's
        assert r.recv(2) == pingresp
        assert r.take_publishes(deliver, lambda: True) == 1  # stop after one
        assert r.buffered() == 0

        qos2 = _publish_packet(b"t", b"x", 2, 9)
        large = _publish_packet(b"t", bytes(_CARRY_MAX), 1, 3)[:100]  # paho reads it
        malformed = b"\x32\x04\x00\x09ab"  # its topic runs past the packet
        for rest in (qos2, large, malformed):
            r.arm()
            b.sendall(rest)
            assert r.fill() == len(rest)
            assert r.take_publishes(deliver, lambda: False) == 0
            assert not r.short
            assert r.recv(len(rest)) == rest  # left whole for paho
        assert len(got) == 4
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize("cut", [1, 2, 3, 7, 600, 4000])
def test_a_publish_cut_off_at_the_end_of_a_read_is_completed_by_the_next(cut: int) -> None:
    """Real sockets: PUBLISH packets (one- and two-byte remaining lengths) arriving in
    pieces of ``cut`` bytes, cut anywhere, even inside the remaining length, are all
    delivered by fill() and take_publishes() alone, whole and in order: a packet cut off
    is :attr:`ReadAhead.short` and completed by appending the next read, not handed to
    paho's reader; with nothing to read yet, fill() says "would block" and keeps it."""
    a, b = socket.socketpair()
    a.setblocking(False)
    sent = [(f"t/{i}".encode(), 1, i + 1, bytes([i]) * (i * 37 % 300)) for i in range(40)]
    stream = b"".join(_publish_packet(t, p, q, m) for t, q, m, p in sent)
    got: list[tuple[bytes, int, int, bytes]] = []

    def deliver(topic: bytes, qos: int, mid: int, payload: bytes) -> None:
        got.append((topic, qos, mid, payload))
    try:
        r = ReadAhead(a)
        for at in range(0, len(stream), cut):
            b.sendall(stream[at:at + cut])
            r.arm()
            while True:  # as the client's reader does on a readable event
                try:
                    if not r.fill():
                        break  # all taken, and this event's read done
                except BlockingIOError:
                    assert r.short  # the rest of a packet has not come yet
                    break
                r.take_publishes(deliver, lambda: False)
                assert r.short or r.buffered() == 0
        assert got == sent
        assert r.buffered() == 0
        assert not r.short
    finally:
        a.close()
        b.close()


def test_a_publish_cut_off_by_the_end_of_the_stream_goes_to_paho() -> None:
    """A PUBLISH whose rest never comes (the broker closed) is not short any more: paho's
    reader gets its bytes, then the empty read it takes for a lost connection."""
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        r = ReadAhead(a)
        part = _publish_packet(b"t", b"x" * 50, 1, 5)[:20]
        b.sendall(part)
        assert r.fill() == 20
        assert r.take_publishes(lambda *_: None, lambda: False) == 0
        assert r.short
        b.close()
        assert r.fill() == 20  # the end of the stream: nothing appended
        assert not r.short
        assert r.recv(100) == part
        assert r.recv(1) == b""
    finally:
        a.close()
        b.close()


def test_read_ahead_hands_the_end_of_the_stream_to_paho() -> None:
    """When the broker closes the connection, fill() finds nothing and paho's next read
    gets the empty read it takes for a lost connection."""
    a, b = socket.socketpair()
    a.setblocking(False)
    try:
        r = ReadAhead(a)
        b.close()
        assert r.fill() == 0
        assert r.recv(1) == b""
    finally:
        a.close()
