"""Both stores behave the same: idempotent writes, latest per device, windowed history.
InfluxDB runs for real (influxd 1.6.7 from the fixtures); the v1 flavour's handling of
each status code is checked against a local aiohttp.web server answering it."""

from __future__ import annotations

import base64
import contextlib
import gzip
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import aiohttp.web
import orjson
import pytest

from cityhub.errors import SinkError
from cityhub.lineprotocol import encode_lines
from cityhub.point import Encoded, Point
from cityhub.proxies import proxy_for
from cityhub.store import Store
from devservices import LocalInfluxDB
from stores import InfluxV1Store

T0 = 1_767_225_600 * 10**9


def pt(device: str, t_s: float, meas: str = "traffic", city: str = "c1", **fields: object
       ) -> Point:
    tags = {"city": city, "district": "north", "gateway": "gw-a", "device": device}
    return Point(meas, tuple(sorted(tags.items())), fields, T0 + int(t_s * 1e9))  # type: ignore[arg-type]


async def test_write_is_idempotent_and_latest_is_newest(store: Store) -> None:
    batch = [pt("tfc-1", 0, intensity=10.0, congested=False),
             pt("tfc-1", 60, intensity=12.0, congested=True),
             pt("tfc-2", 30, intensity=3.0),
             pt("lamp-1", 10, meas="lighting", powerState="on", activePower=88.5),
             pt("other", 90, city="c2", intensity=1.0)]
    await store.write(batch)
    await store.write(batch)  # redelivery
    await store.write([pt("tfc-1", 0, intensity=99.0)])  # older point, overwrites its own time
    latest = {p.device: p for p in await store.latest(city="c1")}
    assert set(latest) == {"tfc-1", "tfc-2", "lamp-1"}
    assert latest["tfc-1"].fields == {"intensity": 12.0, "congested": True}
    assert latest["tfc-1"].time_ns == T0 + 60 * 10**9
    assert latest["tfc-1"].tags["district"] == "north"
    assert latest["lamp-1"].measurement == "lighting"
    assert latest["lamp-1"].fields == {"powerState": "on", "activePower": 88.5}
    raw = await store.history(measurement="traffic", device="tfc-1", field="intensity",
                              start_ns=T0, stop_ns=T0 + 3600 * 10**9, city="c1")
    assert raw == [(T0, 99.0), (T0 + 60 * 10**9, 12.0)]
    since = await store.latest(city="c1", since_ns=T0 + 45 * 10**9)
    assert {p.device for p in since} == {"tfc-1"}


async def test_latest_keeps_only_the_fields_of_the_newest_time(store: Store) -> None:
    """A field last written at an older time is not part of the newest point, whichever
    order the series' rows come in."""
    await store.write([pt("tfc-3", 60, intensity=5.0), pt("tfc-4", 0, intensity=1.0)])
    await store.write([pt("tfc-3", 0, intensity=7.0, occupancy=0.4),
                       pt("tfc-4", 30, intensity=2.0, occupancy=0.1)])
    latest = {p.device: p for p in await store.latest(city="c1")}
    assert latest["tfc-3"].fields == {"intensity": 5.0}
    assert latest["tfc-3"].time_ns == T0 + 60 * 10**9
    assert latest["tfc-4"].fields == {"intensity": 2.0, "occupancy": 0.1}


async def test_windowed_history(store: Store) -> None:
    await store.write([pt("tfc-1", s, intensity=float(s)) for s in range(0, 600, 30)])
    got = await store.history(measurement="traffic", device="tfc-1", field="intensity",
                              start_ns=T0, stop_ns=T0 + 600 * 10**9, window_s=300,
                              city="c1")
    assert got == [(T0, sum(range(0, 300, 30)) / 10), (T0 + 300 * 10**9,
                                                        sum(range(300, 600, 30)) / 10)]


async def test_history_of_one_citys_device(store: Store) -> None:
    """Two cities of one hub with a device of the same id: ``city`` picks one."""
    await store.write([pt("tfc-9", 0, intensity=1.0), pt("tfc-9", 0, city="c2", intensity=2.0),
                       pt("tfc-9", 30, city="c2", intensity=3.0)])
    window = {"measurement": "traffic", "device": "tfc-9", "field": "intensity",
              "start_ns": T0, "stop_ns": T0 + 600 * 10**9}
    assert await store.history(**window, city="c1") == [(T0, 1.0)]  # type: ignore[arg-type]
    assert await store.history(**window, city="c2") == [  # type: ignore[arg-type]
        (T0, 2.0), (T0 + 30 * 10**9, 3.0)]
    assert await store.history(**window, city="c2", window_s=600) == [  # type: ignore[arg-type]
        (T0, 2.5)]
    assert await store.history(**window, city="c3") == []  # type: ignore[arg-type]


Reply = tuple[int, dict[str, str], bytes]  # status, headers, body


@contextlib.asynccontextmanager
async def _influx_with(reply: Callable[[aiohttp.web.Request, bytes], Reply],
                       **store_args: Any) -> AsyncIterator[InfluxV1Store]:
    """A store writing to a real local HTTP server whose answers ``reply`` makes."""
    async def handle(request: aiohttp.web.Request) -> aiohttp.web.Response:
        status, headers, body = reply(request, await request.read())
        return aiohttp.web.Response(status=status, headers=headers, body=body)

    app = aiohttp.web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = aiohttp.web.AppRunner(app, auto_decompress=False)  # the body as sent
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    store = InfluxV1Store(f"http://127.0.0.1:{port}", "db", **store_args)
    try:
        yield store
    finally:
        await store.aclose()
        await runner.cleanup()


@pytest.mark.parametrize(("status", "headers", "retryable", "after"), [
    (400, {}, False, None), (404, {}, False, None), (422, {}, False, None),
    (429, {"Retry-After": "7"}, True, 7.0), (500, {}, True, None), (502, {}, True, None),
    (503, {"Retry-After": "2"}, True, 2.0), (504, {}, True, None),
])
async def test_status_codes_classified(status: int, headers: dict[str, str], retryable: bool,
                                       after: float | None) -> None:
    seen: list[tuple[str, str, str]] = []

    def reply(r: aiohttp.web.Request, body: bytes) -> Reply:
        seen.append((r.method, r.path_qs, r.headers.get("Content-Encoding", "")))
        return status, headers, orjson.dumps({"error": "nope"})

    async with _influx_with(reply) as store:
        with pytest.raises(SinkError) as e:
            await store.write([pt("tfc-1", 0, intensity=1.0)])
    assert (e.value.retryable, e.value.retry_after, e.value.status) == (retryable, after, status)
    assert "nope" in str(e.value)
    assert seen == [("POST", "/write?db=db&precision=ns", "gzip")]  # never retried here


async def test_partial_write_names_the_refused_lines() -> None:
    """A 400 with InfluxDB 1.x's partial-write body: not retryable, and the message says
    what was dropped (the ingester dead-letters those lines and keeps the rest)."""
    msg = ('partial write: field type conflict: input field "intensity" on measurement '
           '"traffic" is type string, already exists as type float dropped=1')
    async with _influx_with(lambda r, body: (400, {}, orjson.dumps({"error": msg}))) as store:
        with pytest.raises(SinkError) as e:
            await store.write([pt("tfc-1", 0, intensity=1.0)])
    assert (e.value.retryable, e.value.status) == (False, 400)
    assert "HTTP 400: partial write: field type conflict" in str(e.value)
    assert "dropped=1" in str(e.value)


@pytest.mark.parametrize(("status", "retryable"), [(400, False), (503, True)])
async def test_query_errors_are_classified_as_writes_are(status: int, retryable: bool) -> None:
    async with _influx_with(lambda r, body: (status, {"Retry-After": "4"},
                                             orjson.dumps({"error": "no"}))) as store:
        with pytest.raises(SinkError) as e:
            await store.latest(city="c1")
    assert (e.value.status, e.value.retryable, e.value.retry_after) == (status, retryable, 4.0)


@pytest.mark.parametrize(("args", "header"), [
    ({"token": "t0k"}, "Token t0k"),
    ({"username": "admin", "password": "päss:wörd"},
     "Basic " + base64.b64encode("admin:päss:wörd".encode()).decode()),
    ({"username": "admin", "password": "pw", "token": "t0k"},  # basic wins
     "Basic " + base64.b64encode(b"admin:pw").decode()),
    ({}, ""),
], ids=["token", "basic-utf8", "both", "none"])
async def test_writes_queries_and_pings_authenticate(args: dict[str, str], header: str) -> None:
    """One session, its authentication built once: the same header on every request."""
    seen: list[tuple[str, str]] = []

    def reply(r: aiohttp.web.Request, body: bytes) -> Reply:
        seen.append((r.path, r.headers.get("Authorization", "")))
        if r.path == "/query":
            return 200, {}, orjson.dumps({"results": [{"statement_id": 0}]})
        return 204, {"X-Influxdb-Version": "test"}, b""

    async with _influx_with(reply, **args) as store:
        assert await store.ping() == f"InfluxDB test at {store.url}"
        await store.write([pt("tfc-1", 0, intensity=1.0)])
        assert await store.latest(city="c1") == []
    assert seen == [("/ping", header), ("/write", header), ("/query", header)]


async def test_writes_go_through_the_proxy_the_environment_names(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The command resolves HTTP_PROXY / NO_PROXY once at its edge
    (cityhub.proxies.proxy_for) and hands it to the store, which sends every request
    through it: the local server plays the proxy for a store whose host does not resolve.
    With NO_PROXY naming the host there is no proxy, and the store cannot reach it."""
    seen: list[tuple[str, str]] = []

    def reply(r: aiohttp.web.Request, body: bytes) -> Reply:
        seen.append((r.headers["Host"], r.path_qs))
        return 204, {}, b""

    url = "http://influx.invalid:8086"
    async with _influx_with(reply) as local:
        monkeypatch.setenv("HTTP_PROXY", local.url)
        monkeypatch.delenv("http_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert proxy_for(url) == local.url
        store = InfluxV1Store(url, "db", proxy=proxy_for(url), timeout_s=2)
        await store.write([pt("tfc-1", 0, intensity=1.0)])
        await store.aclose()
        assert seen == [("influx.invalid:8086", "/write?db=db&precision=ns")]
        monkeypatch.setenv("NO_PROXY", "influx.invalid")
        assert proxy_for(url) is None
        store = InfluxV1Store(url, "db", proxy=proxy_for(url), timeout_s=2)
        with pytest.raises(SinkError) as e:
            await store.write([pt("tfc-1", 0, intensity=1.0)])
        await store.aclose()
        assert e.value.retryable and len(seen) == 1
        # the store itself reads no environment: without a proxy given, none is used
        monkeypatch.delenv("NO_PROXY")
        store = InfluxV1Store(url, "db", timeout_s=2)
        with pytest.raises(SinkError):
            await store.write([pt("tfc-1", 0, intensity=1.0)])
        await store.aclose()
        assert len(seen) == 1


@pytest.mark.parametrize(("sizes", "limit"), [
    (None, 2),  # a list of 7 points
    ([3, 3, 3, 3, 2, 2], 6),  # an Encoded batch: cut between messages, nothing built
    # a message too large on its own: its points are built and halved like a list's
    ([2, 8, 1], 3),
], ids=["points", "encoded", "encoded-one-message-too-large"])
async def test_413_splits_batch_until_it_fits(sizes: list[int] | None, limit: int) -> None:
    seen: list[int] = []

    def reply(r: aiohttp.web.Request, body: bytes) -> Reply:
        lines = gzip.decompress(body).count(b"\n")
        if lines > limit:
            return 413, {}, orjson.dumps({"error": "too large"})
        seen.append(lines)
        return 204, {}, b""

    points = encoded(sizes, may_build=max(sizes) > limit) if sizes \
        else [pt("tfc-1", s, intensity=1.0) for s in range(7)]
    async with _influx_with(reply) as store:
        await store.write(points)
    assert sum(seen) == len(points)
    assert max(seen) <= limit
    if isinstance(points, Encoded):
        assert points.built is (max(sizes or [0]) > limit)


def encoded(sizes: list[int], *, may_build: bool = False) -> Encoded:
    """An Encoded batch of messages of ``sizes`` points (with its message ends), whose
    points must never be built unless ``may_build``."""
    points, ends, lines = [], [], b""
    for m, n in enumerate(sizes):
        msg = [pt(f"tfc-{m}", k, intensity=float(len(points) + k)) for k in range(n)]
        points += msg
        lines += encode_lines(msg)
        ends.append((len(lines), len(points)))

    def build() -> list[Point]:
        if not may_build:
            raise AssertionError("the batch's points were built again")
        return list(points)
    return Encoded(lines, len(points), build, ends)


@pytest.mark.parametrize("gzip_level", [0, 1])
async def test_an_encoded_batch_is_cut_between_messages(
        influxdb: LocalInfluxDB, database: str, gzip_level: int) -> None:
    """An ingester batch of 23 points (messages of 5, 5, 5, 5 and 3) through a store
    whose batch_lines is 10: requests of 10, 10 and 3 points, cut between messages, and
    its points never built again (the build would redo in Python what the compiled
    kernel did); a real InfluxDB stores every point."""
    seen: list[int] = []

    def reply(r: aiohttp.web.Request, body: bytes) -> Reply:
        seen.append((gzip.decompress(body) if gzip_level else body).count(b"\n"))
        return 204, {}, b""

    async with _influx_with(reply, batch_lines=10, gzip_level=gzip_level) as store:
        await store.write(encoded([5, 5, 5, 5, 3]))
    assert seen == [10, 10, 3]
    async with InfluxV1Store(influxdb.url, database, batch_lines=10,
                             gzip_level=gzip_level) as real:
        await real.write(encoded([5, 5, 5, 5, 3]))
    got = influxdb.query('SELECT count("intensity"), sum("intensity") FROM "traffic"',
                         db=database)
    row = got["results"][0]["series"][0]["values"][0]  # type: ignore[index]
    assert row[1:] == [23, sum(range(23))]


async def test_an_error_body_that_is_not_json_is_kept_as_text() -> None:
    async with _influx_with(lambda r, body: (502, {}, b"<html>bad gateway</html>")) as store:
        with pytest.raises(SinkError) as e:
            await store.write([pt("tfc-1", 0, intensity=1.0)])
    assert e.value.retryable and "HTTP 502: <html>bad gateway</html>" in str(e.value)


async def test_network_error_is_retryable() -> None:
    store = InfluxV1Store("http://127.0.0.1:1", "db", timeout_s=1)
    with pytest.raises(SinkError) as e:
        await store.write([pt("tfc-1", 0, intensity=1.0)])
    assert e.value.retryable and e.value.status is None
    with pytest.raises(SinkError) as e:
        await store.latest(city="c1")
    assert e.value.retryable and e.value.status is None
    await store.aclose()


async def test_real_server_refuses_type_conflict(influxdb: LocalInfluxDB, database: str) -> None:
    store = InfluxV1Store(influxdb.url, database)
    await store.write([pt("tfc-1", 0, intensity=1.0)])
    with pytest.raises(SinkError) as e:
        await store.write([pt("tfc-1", 1, intensity="high")])
    assert not e.value.retryable
    assert e.value.status == 400
    assert "field type conflict" in str(e.value)
    await store.aclose()


async def test_ping_names_what_answers(store: Store, influxdb: LocalInfluxDB) -> None:
    said = await store.ping()
    if isinstance(store, InfluxV1Store):
        async with aiohttp.ClientSession() as http, http.get(f"{influxdb.url}/ping") as r:
            version = r.headers["X-Influxdb-Version"]
        assert said == f"InfluxDB {version} at {influxdb.url}"
    else:
        assert said.startswith("SQLite 3.") and said.endswith("readings.db")


async def test_ping_of_a_missing_server_is_a_retryable_error() -> None:
    store = InfluxV1Store("http://127.0.0.1:1", "db", timeout_s=1)
    with pytest.raises(SinkError) as e:
        await store.ping()
    assert e.value.retryable and "127.0.0.1:1" in str(e.value)
    await store.aclose()
