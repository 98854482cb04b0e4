"""An HTTP server on a loopback port that checks webhook signatures the way a receiver should."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *_args: object) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        server: WebhookReceiver = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        timestamp = self.headers.get("X-Theodoi-Timestamp", "")
        expected = "sha256=" + hmac.new(server.secret.encode(), timestamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(expected, self.headers.get("X-Theodoi-Signature", ""))
        with server.lock:
            server.requests += 1
            failing = server.requests <= server.fail_first
            if signed and not failing:
                server.received.append(json.loads(body))
            if not signed:
                server.bad_signatures += 1
        if not signed:
            self.send_response(401)
        elif failing:
            self.send_response(500)
        else:
            self.send_response(204)
        self.end_headers()


class WebhookReceiver(ThreadingHTTPServer):
    """Accepts signed POSTs on 127.0.0.1 and returns 500 to the first `fail_first` requests."""

    daemon_threads = True

    def __init__(self, *, fail_first: int = 0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret = ""
        self.fail_first = fail_first
        self.requests = 0
        self.bad_signatures = 0
        self.received: list[dict] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.shutdown()
        self.server_close()
