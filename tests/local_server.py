"""Small local HTTP servers the tests stand up in a thread: a webhook inbox for notifications, a policy
page, a time-stamping authority, a misbehaving server."""

from __future__ import annotations

import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

SERVER = "127.0.0.1"


log = logging.getLogger("tests.local_server")


@contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[socketserver.BaseServer]:
    """`server` answering from a thread until the block ends. It looks for the shutdown every 20 ms:
    socketserver's own 0.5 s was half a second at the end of every test that used one.
    A handler's error (often a client that gave up, as several tests make it) is logged, not printed:
    socketserver prints it to sys.stderr, and a handler still busy after its test ended printed its
    traceback into the next test's in-process `optout` command, whose stderr that test checks."""
    server.handle_error = _log_handler_error
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _log_handler_error(request, client_address) -> None:
    """socketserver calls handle_error inside its `except`, so the handler's exception is the current one."""
    log.warning("a local test server's handler failed for %s", client_address, exc_info=True)  # noqa: LOG014


def port_of(server: socketserver.BaseServer) -> int:
    return server.server_address[1]


class Inbox:
    """A local webhook: every JSON body POSTed to it."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802  (http.server's name)
                length = int(self.headers.get("Content-Length", 0))
                received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((SERVER, 0), Handler)
        self.url = f"json://{SERVER}:{port_of(self.server)}/hook"


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    with serving(box.server):
        yield box
