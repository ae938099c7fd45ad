"""Issue 12 item 10: the policy read never crashes a run. A server that cuts the body short, names a charset
nobody knows, trickles forever, answers with a huge body, or is not HTTP at all: `version_for_receipts`
(what run, batch and recheck call) logs why and returns None within its deadline, and records nothing.
The misbehaving server is a raw socket server of this test, so each fault is exactly what it says."""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time

import pytest

from optout import policy
from optout.config import load_settings
from optout.store import Store
from local_server import serving

POLICY_HTML = ("<html><body><main><h1>Privacy Policy</h1><p>Effective: January 15, 2026</p>"
               + "<p>We collect information you provide. " * 20 + "</p></main></body></html>").encode()
STOP = threading.Event()


def _answer(sock: socket.socket, fault: str) -> None:
    if fault == "truncated":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n" + POLICY_HTML[:300])
    elif fault == "bogus-charset":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=x-no-such-charset\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(POLICY_HTML) + POLICY_HTML)
    elif fault == "slow":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n")
        while not STOP.wait(0.05):  # one byte every 50 ms: never a socket timeout, never the end
            sock.sendall(b"x")
    elif fault == "huge":
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")
        chunk = b"<p>" + b"a" * 65536 + b"</p>"
        for _ in range(200):  # 13 MB, unannounced
            sock.sendall(chunk)
    elif fault == "not-http":
        sock.sendall(b"\x00\xff garbage, not an HTTP answer\r\n\r\n")


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        try:
            _answer(self.request, self.server.fault)
        except OSError:  # the client gave up, as it should
            pass


@pytest.fixture
def bad_server():
    STOP.clear()
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    with serving(server):
        try:
            yield server
        finally:
            STOP.set()


@pytest.mark.parametrize("fault", ["truncated", "bogus-charset", "slow", "huge", "not-http"])
async def test_a_bad_policy_answer_is_logged_and_the_run_goes_on(tmp_path, bad_server, fault, monkeypatch, caplog):
    monkeypatch.setattr(policy, "FETCH_DEADLINE_S", 2.0)
    monkeypatch.setattr(policy, "MAX_POLICY_BYTES", 1_000_000)
    bad_server.fault = fault
    settings = load_settings(base_url=f"http://127.0.0.1:{bad_server.server_address[1]}",
                             data_dir=tmp_path / "data", state_dir=tmp_path / "state")
    with Store.open(settings) as store, caplog.at_level(logging.WARNING, logger="optout.policy"):
        started = time.monotonic()
        label = await policy.version_for_receipts(settings, store)
        elapsed = time.monotonic() - started
        recorded = store.policies(limit=5)
    assert elapsed < 2.0 + 2.5, elapsed  # the total deadline holds, whatever the server does
    if fault == "bogus-charset":  # an unknown charset is read as UTF-8: the policy itself is fine
        assert label is not None and label.startswith("January 15, 2026") and len(recorded) == 1
        return
    assert label is None and recorded == []
    assert any("policy: not read for the receipts" in r.getMessage() for r in caplog.records), caplog.text
