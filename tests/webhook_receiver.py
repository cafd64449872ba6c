"""A real webhook receiver on 127.0.0.1 for the webhook tests: an HTTP server in a thread that
answers each POST with the next of the answers it was given (a status code, or HANG: wait
without answering until the test ends), and keeps what it received. Stopped by its fixture."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    HANG = HANG

    server: ThreadingHTTPServer
    answers: list = field(default_factory=list)  # what to answer next; then 200
    received: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/miosa"

    def answer(self, *answers) -> None:
        self.answers.extend(answers)

    def next_answer(self):
        with self.lock:
            return self.answers.pop(0) if self.answers else 200


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with receiver.lock:
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
            answer = receiver.next_answer()
            if answer == HANG:
                receiver.release.wait(30)
                return
            self.send_response(answer)
            if 300 <= answer < 400:
                self.send_header("Location", "http://127.0.0.1:9/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):  # quiet
            pass

    return Handler


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    found = Receiver(server=server)
    server.RequestHandlerClass = _handler(found)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield found
    finally:
        found.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def allow_private(settings):
    """Receivers on 127.0.0.1 over http:// (what WEBHOOK_ALLOW_PRIVATE is for)."""
    settings.WEBHOOK_ALLOW_PRIVATE = True
    return settings
