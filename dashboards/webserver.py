"""Serve the dashboards' WSGI app on a background thread (werkzeug, which Dash's Flask
brings), stoppable: for `cityhub dashboard` and the demo."""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

__all__ = ["WebServer"]


class WebServer:
    """``with WebServer(app, host, port) as url:`` serves until the block ends."""

    def __init__(self, wsgi_app: Any, host: str, port: int) -> None:
        self._server: BaseWSGIServer = make_server(host, port, wsgi_app, threaded=True)
        self.host, self.port = host, self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name="cityhub-web")

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    def __enter__(self) -> str:
        self._thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(10)
