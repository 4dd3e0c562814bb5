"""Local sinks for alert deliveries, shared by the alert tests and the browser test: a webhook
receiver (a real HTTP server on loopback) and an SMTP server (aiosmtpd) that Django sends to.

Registered as a pytest plugin in the root conftest, so any test can ask for `receiver` / `smtp_sink`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class Receiver:
    """A local webhook endpoint: records JSON bodies; answers from a script of statuses."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.script: list[int | str] = []  # next answers: HTTP status, "hang", or "refuse" (200 + errcode)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                answer = receiver.script.pop(0) if receiver.script else 200
                if answer == "hang":
                    time.sleep(3)
                    return
                receiver.bodies.append(body)
                receiver.paths.append(self.path)
                status, reply = (
                    (200, {"errcode": 310000, "errmsg": "keywords not in content"})
                    if answer == ("refuse")
                    else (int(answer), {"errcode": 0})
                )
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/robot/send?access_token=SECRET-TOKEN-123"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[list[Any]]:
    """A real SMTP server on loopback (aiosmtpd); Django sends to it over SMTP."""
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    yield received
    controller.stop()
