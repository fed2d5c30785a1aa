"""An HTTP proxy on 127.0.0.1 that forwards to the S3 server but answers some requests with 503 SlowDown,
500 InternalError or a reset connection (before forwarding them), as a flaky network or a busy R2 does."""

from __future__ import annotations

import http.client
import http.server
import itertools
import socket
import threading
from collections import Counter
from urllib.parse import urlparse

SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
             b"<Message>Please reduce your request rate.</Message></Error>")
INTERNAL = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code>'
            b"<Message>We encountered an internal error. Please try again.</Message></Error>")
HOP = {"connection", "keep-alive", "transfer-encoding", "expect", "proxy-connection", "te", "upgrade"}


class FaultyProxy:
    """`with FaultyProxy("http://127.0.0.1:PORT") as p:` then use `p.endpoint`. Every 19th request gets 503,
    every 29th 500, every 37th a reset (about one request in nine fails; a retry usually passes)."""

    def __init__(self, backend: str, every_503: int = 19, every_500: int = 29, every_reset: int = 37):
        target = urlparse(backend)
        self.backend = (target.hostname, target.port)
        self.rules = (every_503, every_500, every_reset)
        self.injected: Counter = Counter()
        self._count = itertools.count(1)
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _any(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._fault()
                if fault == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault in ("503", "500"):
                    payload = SLOWDOWN if fault == "503" else INTERNAL
                    self.send_response(int(fault))
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                conn = http.client.HTTPConnection(*proxy.backend, timeout=60)
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP:
                        conn.putheader(name, value)
                conn.endheaders(body or None)
                reply = conn.getresponse()
                data = reply.read()
                conn.close()
                self.send_response(reply.status, reply.reason)
                for name, value in reply.getheaders():
                    if name.lower() not in HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                # a HEAD reply has no body but tells the object's length
                length = reply.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # resets are the point here: stay quiet
                pass

        self.server = Server(("127.0.0.1", 0), Handler)

    def _fault(self) -> str | None:
        with self._lock:
            n = next(self._count)
            e503, e500, ereset = self.rules
            fault = "503" if n % e503 == 0 else "500" if n % e500 == 0 else "reset" if n % ereset == 0 else None
            if fault:
                self.injected[fault] += 1
            return fault

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FaultyProxy":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
