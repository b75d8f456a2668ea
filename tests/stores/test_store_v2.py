"""The v2 write flavour, against a local recording HTTP server (no InfluxDB 2/3 server can
run on the test machines): path, params, auth header, gzip, the exact body, and what each
status code the v2 API answers makes of a write."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest

from cityhub.errors import SinkError
from cityhub.lineprotocol import encode_lines
from cityhub.point import Point
from stores import InfluxV2Store

T0 = 1_767_225_600 * 10**9


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, list[str]]
    auth: list[str]  # every Authorization header sent
    encoding: str | None
    body: bytes

    def lines(self) -> bytes:
        return gzip.decompress(self.body) if self.encoding == "gzip" else self.body


Reply = tuple[int, dict[str, str], bytes]


class Recorder(ThreadingHTTPServer):
    """Records every request; answers from ``replies`` in turn, or with ``reply(request)``
    when set, else 204 (and InfluxDB's version header, as ``/ping`` has it)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[Request] = []
        self.replies: list[Reply] = []
        self.reply: object = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _serve(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        req = Request(self.command, url.path, parse_qs(url.query),
                      self.headers.get_all("Authorization") or [],
                      self.headers.get("Content-Encoding"), body)
        self.server.requests.append(req)
        if self.server.replies:
            status, headers, reply = self.server.replies.pop(0)
        elif callable(self.server.reply):
            status, headers, reply = self.server.reply(req)
        else:
            status, headers, reply = 204, {"X-Influxdb-Version": "v2.7.0"}, b""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    do_GET = do_POST = _serve

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    srv = Recorder()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def points(n: int) -> list[Point]:
    tags = (("city", "bandung"), ("device", "tfc 1"), ("district", "coblong"),
            ("gateway", "gw-dago"))
    return [Point("traffic", tags, {"intensity": float(i), "congested": i % 2 == 0},
                  T0 + i) for i in range(n)]


async def test_write_request_is_exactly_what_v2_expects(recorder: Recorder) -> None:
    async with InfluxV2Store(recorder.url, org="city", bucket="cityhub", token="s3cret") as store:
        await store.write(points(3))
    [req] = recorder.requests
    assert (req.method, req.path) == ("POST", "/api/v2/write")
    assert req.params == {"org": ["city"], "bucket": ["cityhub"], "precision": ["ns"]}
    assert req.auth == ["Token s3cret"]
    assert req.encoding == "gzip"
    assert gzip.decompress(req.body) == encode_lines(points(3))
    assert gzip.decompress(req.body).startswith(
        b"traffic,city=bandung,device=tfc\\ 1,district=coblong,gateway=gw-dago "
        b"intensity=0.0,congested=true 1767225600000000000\n")


async def test_plain_body_when_gzip_is_off(recorder: Recorder) -> None:
    async with InfluxV2Store(recorder.url, org="city", bucket="cityhub", token="t",
                             gzip=False) as store:
        await store.write(points(2))
    [req] = recorder.requests
    assert req.encoding is None
    assert req.body == encode_lines(points(2))


async def test_queries_and_pings_send_the_same_token(recorder: Recorder) -> None:
    """Authentication is built once for the store: writes (influxdb-client), InfluxQL
    queries and pings (the store's own session) all send one ``Token`` header."""
    recorder.reply = lambda r: ((200, {}, orjson.dumps({"results": [{}]})) if r.path == "/query"
                                else (204, {"X-Influxdb-Version": "v2.7.0"}, b""))
    async with InfluxV2Store(recorder.url, org="city", bucket="cityhub", token="s3cret") as store:
        assert await store.ping() == f"InfluxDB v2.7.0 at {recorder.url}"
        await store.write(points(1))
        assert await store.latest(city="bandung") == []
    assert [(r.method, r.path) for r in recorder.requests] == [
        ("GET", "/ping"), ("POST", "/api/v2/write"), ("POST", "/query")]
    assert [r.auth for r in recorder.requests] == [["Token s3cret"]] * 3
    query = recorder.requests[2]
    assert query.params == {"db": ["cityhub"], "epoch": ["ns"]}  # the bucket's DBRP name
    assert parse_qs(query.body.decode())["q"][0].startswith('SELECT * FROM "traffic"')


@pytest.mark.parametrize(("status", "headers", "retryable", "after"), [
    (400, {}, False, None),
    (422, {}, False, None),
    (429, {"Retry-After": "3"}, True, 3.0),
    (500, {}, True, None),
    (502, {}, True, None),
    (503, {"Retry-After": "2"}, True, 2.0),
    (504, {"Retry-After": "1.5"}, True, 1.5),
])
async def test_status_codes_classified(recorder: Recorder, status: int, headers: dict[str, str],
                                       retryable: bool, after: float | None) -> None:
    recorder.replies = [(status, headers, orjson.dumps({"code": "x", "message": "nope"}))]
    async with InfluxV2Store(recorder.url, org="city", bucket="cityhub", token="t") as store:
        with pytest.raises(SinkError) as e:
            await store.write(points(1))
    assert (e.value.retryable, e.value.retry_after, e.value.status) == (retryable, after, status)
    assert f"HTTP {status}: nope" in str(e.value)
    assert len(recorder.requests) == 1  # the store never retries by itself


async def test_partial_write_names_the_refused_lines(recorder: Recorder) -> None:
    msg = ('partial write: failure writing points to database: partial write: field type '
           'conflict: input field "intensity" on measurement "traffic" is type string, '
           'already exists as type float dropped=1')
    recorder.replies = [(400, {"Content-Type": "application/json"},
                         orjson.dumps({"code": "invalid", "message": msg}))]
    async with InfluxV2Store(recorder.url, org="city", bucket="cityhub", token="t") as store:
        with pytest.raises(SinkError) as e:
            await store.write(points(3))
        assert (e.value.retryable, e.value.status) == (False, 400)
        assert "field type conflict" in str(e.value) and "dropped=1" in str(e.value)
        await store.write(points(3))  # the store is still usable afterwards
    assert len(recorder.requests) == 2


async def test_413_splits_the_batch_until_it_fits(recorder: Recorder) -> None:
    def reply(r: Request) -> Reply:
        if r.lines().count(b"\n") > 2:
            return 413, {}, orjson.dumps({"code": "request too large", "message": "too big"})
        return 204, {}, b""

    recorder.reply = reply
    async with InfluxV2Store(recorder.url, org="city", bucket="cityhub", token="t") as store:
        await store.write(points(7))
    # 7 lines refused, then its halves in turn: 3 refused (1 and 2 taken), 4 refused (2, 2)
    assert [r.lines().count(b"\n") for r in recorder.requests] == [7, 3, 1, 2, 4, 2, 2]
    taken = [r.lines() for r in recorder.requests if r.lines().count(b"\n") <= 2]
    assert b"".join(taken) == encode_lines(points(7))  # every line once, in order


async def test_network_error_is_retryable() -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with InfluxV2Store(f"http://127.0.0.1:{port}", org="city", bucket="cityhub",
                             token="t", timeout_s=2) as store:
        with pytest.raises(SinkError) as e:
            await store.write(points(1))
    assert e.value.retryable and e.value.status is None
    assert f"127.0.0.1:{port}" in str(e.value)
