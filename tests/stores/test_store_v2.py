"""The v2 write flavour, against a local recording HTTP server (no InfluxDB 2/3 server can
run on the test machines): path, params, auth header, gzip and the exact body."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from cityhub.errors import SinkError
from cityhub.lineprotocol import encode_lines
from cityhub.point import Point
from stores.influx_v2 import InfluxV2Store

T0 = 1_767_225_600 * 10**9


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.requests: list[dict[str, object]] = []
        self.replies: list[tuple[int, dict[str, str], bytes]] = []


class Handler(BaseHTTPRequestHandler):
    server: Recorder

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        url = urlsplit(self.path)
        self.server.requests.append({"path": url.path, "params": parse_qs(url.query),
                                     "headers": dict(self.headers), "body": body})
        status, headers, reply = (self.server.replies.pop(0) if self.server.replies
                                  else (204, {}, b""))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    srv = Recorder()
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()


def points(n: int) -> list[Point]:
    tags = (("city", "bandung"), ("device", "tfc 1"), ("district", "coblong"),
            ("gateway", "gw-dago"))
    return [Point("traffic", tags, {"intensity": float(i), "congested": i % 2 == 0},
                  T0 + i) for i in range(n)]


async def test_write_request_is_exactly_what_v2_expects(recorder: Recorder) -> None:
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    store = InfluxV2Store(url, org="city", bucket="cityhub", token="s3cret")
    await store.write(points(3))
    await store.aclose()
    [req] = recorder.requests
    assert req["path"] == "/api/v2/write"
    assert req["params"] == {"org": ["city"], "bucket": ["cityhub"], "precision": ["ns"]}
    headers = req["headers"]
    assert isinstance(headers, dict)
    assert headers["Authorization"] == "Token s3cret"
    assert headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(req["body"]) == encode_lines(points(3))  # type: ignore[arg-type]
    assert gzip.decompress(req["body"]).startswith(  # type: ignore[arg-type]
        b"traffic,city=bandung,device=tfc\\ 1,district=coblong,gateway=gw-dago "
        b"intensity=0.0,congested=true 1767225600000000000\n")


async def test_status_codes(recorder: Recorder) -> None:
    url = f"http://127.0.0.1:{recorder.server_address[1]}"
    store = InfluxV2Store(url, org="city", bucket="cityhub", token="t")
    recorder.replies = [(429, {"Retry-After": "3"}, b'{"code":"too many requests"}')]
    with pytest.raises(SinkError) as e:
        await store.write(points(1))
    assert (e.value.retryable, e.value.retry_after, e.value.status) == (True, 3.0, 429)
    recorder.replies = [(400, {}, b'{"code":"invalid","message":"partial write"}')]
    with pytest.raises(SinkError) as e:
        await store.write(points(1))
    assert (e.value.retryable, e.value.status) == (False, 400)
    assert "partial write" in str(e.value)
    recorder.replies = [(413, {}, b"{}")]
    recorder.requests.clear()
    await store.write(points(4))  # too large once: halves are sent
    assert len(recorder.requests) == 3
    await store.aclose()
