"""A loopback HTTP server: routes map a path to a handler. Serves `wit demo`'s generated
site and the tests' fixtures; it binds 127.0.0.1 only."""
from __future__ import annotations

import contextlib
import http.server
import threading
from typing import Callable

Route = Callable[[http.server.BaseHTTPRequestHandler], None]


def send(handler, body: bytes, status: int = 200, content_type: str = "image/jpeg", headers: dict | None = None):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        server = self.server
        with server.lock:
            server.hits[self.path] = server.hits.get(self.path, 0) + 1
        route = server.routes.get(self.path.split("?", 1)[0]) or server.fallback
        if route is None:
            send(self, b"not found", 404, "text/plain")
            return
        try:
            route(self)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


class LoopbackServer:
    def __init__(self, routes: dict[str, Route] | None = None, fallback: Route | None = None, port: int = 0):
        try:
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        except OSError:  # the preferred port is taken: any free one will do
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.routes = dict(routes or {})
        self.httpd.fallback = fallback
        self.httpd.hits = {}
        self.httpd.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def routes(self) -> dict[str, Route]:
        return self.httpd.routes

    @property
    def hits(self) -> dict[str, int]:
        return self.httpd.hits

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> "LoopbackServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def serve(routes: dict[str, Route] | None = None, fallback: Route | None = None):
    with LoopbackServer(routes, fallback) as server:
        yield server
