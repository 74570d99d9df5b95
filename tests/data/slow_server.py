"""A local HTTP server on 127.0.0.1 that answers slowly, for the download time-limit tests.

Routes (``N`` bytes of body, one ``step`` bytes every ``every`` seconds, ``Content-Length``
announced):

- ``/trickle/<N>/<step>/<every>``: the body arrives ``step`` bytes at a time;
- ``/silent/<seconds>``: headers, then nothing for ``seconds``, then the connection closes;
- ``/slow-headers/<every>``: the status line and headers arrive one byte at a time.

Every route gives up after :attr:`SlowServer.max_seconds` so that a client with no time limit
finishes too (a test then fails instead of hanging). :attr:`SlowServer.sent` counts body bytes.
"""
from __future__ import annotations

import http.server
import threading
import time


class SlowServer:
    max_seconds = 30.0

    def __init__(self):
        self.sent = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):  # noqa: N802 (http.server's naming)
                parts = self.path.strip("/").split("/")
                try:
                    if parts[0] == "trickle":
                        self._trickle(int(parts[1]), int(parts[2]), float(parts[3]))
                    elif parts[0] == "silent":
                        self._headers(1000)
                        time.sleep(min(float(parts[1]), server.max_seconds))
                    elif parts[0] == "slow-headers":
                        self._slow_headers(float(parts[1]))
                    else:
                        self.send_error(404, "Not Found")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def _headers(self, length: int) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.flush()

            def _trickle(self, length: int, step: int, every: float) -> None:
                self._headers(length)
                start = time.monotonic()
                for offset in range(0, length, step):
                    if time.monotonic() - start > server.max_seconds:
                        return
                    chunk = bytes(min(step, length - offset))
                    self.wfile.write(chunk)
                    self.wfile.flush()
                    server.sent += len(chunk)
                    time.sleep(every)

            def _slow_headers(self, every: float) -> None:
                head = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n" + b"X-Pad: " + b"x" * 10_000
                start = time.monotonic()
                for byte in head:
                    if time.monotonic() - start > server.max_seconds:
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(every)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{path.lstrip('/')}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
