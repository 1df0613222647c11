"""A small HTTP proxy in front of a real registry on 127.0.0.1, for transfer tests: it records
every exchange in the order the registry answered it, counts how many were in flight at once,
and misbehaves when told (drops a connection mid-body, flips a byte of a blob it passes on).

The ``Host`` header is passed on unchanged, so the registry's upload ``Location`` URLs point back
at the proxy and every request of a transfer goes through it.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, list[str]]
    status: int  # 0: the proxy dropped the connection
    body: bytes  # what the client sent (for manifests), else b""
    sent: int  # bytes of the request body the registry received
    arrived: int = 0  # when the request came in, and when its answer was back from the registry:
    done: int = 0  # one clock for both (a count of events), so the two can be compared


# fault(method, path, query) -> None (pass on), "drop" (read half the request body, then close
# the connection without an answer), "corrupt" (flip one byte in the middle of the answer's body)
Fault = Callable[[str, str, dict], str | None]


class LoggingProxy:
    def __init__(self, upstream: str, *, delay: float = 0.0) -> None:
        self.upstream = upstream
        self.delay = delay  # seconds added to every blob upload, so that uploads overlap
        self.stall = 0.0  # seconds a blob download stops for in the middle of its body
        self.log: list[Exchange] = []
        self.fault: Fault = lambda method, path, query: None
        self.lock = threading.Lock()
        self.in_flight = 0
        self.clock = 0
        self.most_in_flight = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                with proxy.lock:
                    proxy.in_flight += 1
                    proxy.most_in_flight = max(proxy.most_in_flight, proxy.in_flight)
                try:
                    proxy._handle(self)
                finally:
                    with proxy.lock:
                        proxy.in_flight -= 1

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LoggingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        method = handler.command
        arrived = self._tick()
        fault = self.fault(method, parts.path, query)
        length = int(handler.headers.get("Content-Length") or 0)
        if fault == "drop":
            handler.rfile.read(length // 2)
            self._record(Exchange(method, parts.path, query, 0, b"", length // 2, arrived))
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(2)
            return
        body = handler.rfile.read(length) if length else b""
        if self.delay and method in ("PUT", "PATCH") and "/blobs/uploads/" in parts.path:
            time.sleep(self.delay)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        connection = http.client.HTTPConnection(self.upstream, timeout=60)
        try:
            connection.request(method, handler.path, body=body if length else None, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        finally:
            connection.close()
        if fault == "corrupt" and answer:
            middle = len(answer) // 2
            answer = answer[:middle] + bytes([answer[middle] ^ 0x01]) + answer[middle + 1:]
        self._record(Exchange(method, parts.path, query, response.status,  # before the client can see the answer
                              body if "/manifests/" in parts.path else b"", len(body), arrived))
        handler.send_response_only(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP:
                handler.send_header(key, value)
        handler.end_headers()
        if method == "GET" and self.stall and "/blobs/" in parts.path:
            handler.wfile.write(answer[:len(answer) // 2])
            handler.wfile.flush()
            time.sleep(self.stall)
            handler.wfile.write(answer[len(answer) // 2:])
        elif method != "HEAD":
            handler.wfile.write(answer)

    def _tick(self) -> int:
        with self.lock:
            self.clock += 1
            return self.clock

    def _record(self, exchange: Exchange) -> None:
        with self.lock:
            self.clock += 1
            exchange.done = self.clock
            self.log.append(exchange)

    def uploaded(self) -> list[str]:
        """Digests of the blobs whose bytes were sent to the registry (a finished upload)."""
        return [e.query["digest"][0] for e in self.log
                if e.method == "PUT" and "/blobs/uploads/" in e.path and "digest" in e.query and e.status == 201]

    def fetched(self) -> list[str]:
        """Digests of the blobs read from the registry (GET)."""
        return [e.path.rsplit("/", 1)[1] for e in self.log if e.method == "GET" and "/blobs/" in e.path]


@contextlib.contextmanager
def logging_proxy(upstream: str, *, delay: float = 0.0) -> Iterator[LoggingProxy]:
    with LoggingProxy(upstream, delay=delay) as proxy:
        yield proxy
