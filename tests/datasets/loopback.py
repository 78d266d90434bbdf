"""A real HTTP server on 127.0.0.1 for the download tests: serves files from memory under the URL
paths of their official hosts, one prefix per source (`/<source>/<official path>`), honours Range
requests, records every request, and can misbehave on purpose (drop the connection mid-file once,
answer an error status)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from datasets.files import SOURCES, mirror_var


@dataclass
class Loopback:
    files: dict[str, bytes] = field(default_factory=dict)  # "/<source>/<path>" -> content
    faults: dict[str, object] = field(default_factory=dict)  # path -> "drop_once" | HTTP status
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    port: int = 0

    def base(self, source: str) -> str:
        return f"http://127.0.0.1:{self.port}/{source}/"

    def add(self, source: str, path: str, data: bytes) -> None:
        self.files[f"/{source}/{urlsplit(path).path.lstrip('/')}"] = data

    def mirror_env(self) -> dict[str, str]:
        """SSLBENCH_MIRROR_<SOURCE> for every source, pointing at this server."""
        return {mirror_var(s): self.base(s) for s in SOURCES}

    def fetched(self, source: str) -> list[str]:
        pre = f"/{source}/"
        return [p[len(pre) :] for p, _ in self.requests if p.startswith(pre)]


def _handler(state: Loopback):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def do_GET(self):
            path = urlsplit(self.path).path
            rng = self.headers.get("Range")
            state.requests.append((path, rng))
            fault = state.faults.get(path)
            if isinstance(fault, int):
                return self._status(fault)
            data = state.files.get(path)
            if data is None:
                return self._status(404)
            start = 0
            if rng and rng.startswith("bytes=") and rng.endswith("-"):
                start = int(rng[len("bytes=") : -1])
                if start >= len(data):
                    return self._status(416)
            body = data[start:]
            self.send_response(206 if start else 200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()
            if fault == "drop_once" and not start:
                state.faults.pop(path)
                self.wfile.write(body[: len(body) // 2])  # then the connection drops
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

        def do_HEAD(self):
            path = urlsplit(self.path).path
            state.requests.append((path, "HEAD"))
            data = state.files.get(path)
            if data is None or isinstance(state.faults.get(path), int):
                return self._status(state.faults.get(path) or 404)
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()

        def _status(self, code):
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


def serve(state: Loopback):
    """Start the server in a daemon thread; returns (state, stop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()

    def stop():
        server.shutdown()
        server.server_close()

    return state, stop
