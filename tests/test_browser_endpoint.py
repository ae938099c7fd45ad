"""Issue 12 item 14: a --browser-endpoint on another host over plain ws:// or http:// gets a warning
(credentials would cross the network in the clear); TLS endpoints and this machine's own do not."""

from __future__ import annotations

import json

import pytest

from optout.browser import cleartext_warning
from optout.redact import shown_url
from secrets_scan import find_leaks

KEY, PASSWORD = "bb_live_K3yS3cret", "Pw-S3cret-9"  # what a hosted browser's endpoint URL carries


@pytest.mark.parametrize("endpoint, risky", [
    ("ws://10.0.0.5:3000/", True),
    ("http://browser-fleet.internal:9222", True),
    ("ws://[2001:db8::1]:3000/", True),
    ("wss://browser-fleet.internal/", False),
    ("https://browser-fleet.internal:9222", False),
    ("ws://127.0.0.1:3000/", False),
    ("http://127.8.0.1:9222", False),
    ("ws://localhost:3000/", False),
    ("ws://[::1]:3000/", False),
])
def test_cleartext_endpoint_on_another_host_is_named(endpoint, risky):
    warning = cleartext_warning(endpoint)
    assert bool(warning) is risky
    if risky:
        assert endpoint in warning and "in the clear" in warning


def test_doctor_shows_the_warning(optout_env):
    proc = optout_env.run("doctor", "--browser-only", "--json",
                          extra_env={"OPTOUT_BROWSER_ENDPOINT": "ws://10.0.0.5:3000/"})
    checks = {c["name"]: c for c in json.loads(proc.stdout)["checks"]}
    assert "WARNING" in checks["browser"]["detail"] and "in the clear" in checks["browser"]["detail"]


def _own_non_loopback_ip() -> str | None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the outgoing interface
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def test_a_run_warns_before_connecting(optout_env):
    """A real connect attempt to a plain ws:// endpoint on a non-loopback address (this machine's own,
    a closed port, so it fails fast): the warning is printed, then the connection error, exit 5."""
    ip = _own_non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback interface here")
    assert optout_env.run("accounts", "add", "remote_user", "--password-stdin", input="pw-123456\n").returncode == 0
    endpoint = f"ws://fleet:{PASSWORD}@{ip}:9/chromium?apiKey={KEY}"
    proc = optout_env.run("check", "remote_user", extra_env={"OPTOUT_BROWSER_ENDPOINT": endpoint})
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "in the clear" in proc.stderr and "Could not connect to the remote browser" in proc.stderr
    assert f"ws://***@{ip}:9/chromium?apiKey=***" in proc.stderr
    assert find_leaks([KEY, PASSWORD], optout_env.written_files(), optout_env.outputs) == []


@pytest.mark.parametrize("url, shown", [
    ("wss://connect.example.com?apiKey=K3Y&session=abc", "wss://connect.example.com?apiKey=***&session=***"),
    ("ws://user:p%40ss@10.0.0.5:3000/chromium?token=T#frag", "ws://***@10.0.0.5:3000/chromium?token=***"),
    ("ws://TOKEN@fleet.example/", "ws://***@fleet.example/"),
    ("http://127.0.0.1:9222", "http://127.0.0.1:9222"),
    ("https://tsa.example/ts?mail=a@b.c", "https://tsa.example/ts?mail=***"),
])
def test_a_url_is_shown_without_its_credentials(url, shown):
    assert shown_url(url) == shown


@pytest.mark.parametrize("scheme", ["ws", "http"])
def test_an_endpoint_that_cannot_be_reached_is_named_without_its_key(optout_env, scheme):
    """Hosted browsers put an API key in the endpoint URL: the error, the doctor and the log name the
    endpoint, never the key or a password before the host (a closed port on this machine: fails fast)."""
    endpoint = f"{scheme}://fleet:{PASSWORD}@127.0.0.1:9/?token={KEY}"
    assert optout_env.run("accounts", "add", "remote_user", "--password-stdin", input="pw-123456\n").returncode == 0
    proc = optout_env.run("check", "remote_user", extra_env={"OPTOUT_BROWSER_ENDPOINT": endpoint})
    assert proc.returncode == 5 and "Could not connect to the remote browser" in proc.stderr, proc.stderr
    assert f"{scheme}://***@127.0.0.1:9/?token=***" in proc.stderr
    doctor = optout_env.run("doctor", "--browser-only", extra_env={"OPTOUT_BROWSER_ENDPOINT": endpoint})
    assert "127.0.0.1:9" in doctor.stdout + doctor.stderr
    assert find_leaks([KEY, PASSWORD], optout_env.written_files(), optout_env.outputs) == []
