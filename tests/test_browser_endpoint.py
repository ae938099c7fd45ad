"""Issue 12 item 14: a --browser-endpoint on another host over plain ws:// or http:// gets a warning
(credentials would cross the network in the clear); TLS endpoints and this machine's own do not."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optout.browser import cleartext_warning
from optout.redact import scrub, shown_url
from local_server import port_of, serving
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
    ("wss://fleet.example/?BARE-KEY", "wss://fleet.example/?***"),
    ("ws://[::1]:9/?t=x&flag=", "ws://[::1]:9/?t=***&flag=***"),
    ("user:pw@fleet.example:9?token=KEY", "fleet.example:9"),  # no scheme: nothing after the host
    ("fleet.example:9/?token=KEY&next=http://x", "***"),  # no scheme and more than a host: nothing
    # what cannot be read for certain shows the scheme alone: a '/', '#' or '?' in a password, an '@' after
    # the host before any path
    ("http://user:pa/ss@proxy.example:8080", "http://***"),
    ("http://user:S3c#ret@proxy.example:8080", "http://***"),
    ("http://user:S3cr?etPW@proxy.example:8080", "http://***"),
    ("http://user:1234?5678@proxy.example", "http://***"),
    ("https://tsa.example?user=me@corp.com&key=S3CRETKEY99", "https://***"),
    ("ws://127.0.0.1:9222/devtools/browser/5e3c0a9e-1234-4bcd-8ef0-0123456789ab",
     "ws://127.0.0.1:9222/devtools/browser/***"),  # a long path segment may be a token
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


def test_a_library_message_is_scrubbed_of_the_key_in_every_form():
    """Playwright moves a DevTools endpoint's query behind /json/version/ in its errors, and a key may
    hold '+' or '%2F': the URL in the text is shown without its values, and the key in any encoding is
    hidden wherever else it appears."""
    endpoint = "http://127.0.0.1:4444?token=Ab+Cd%2FEf=="
    text = ("Unexpected status 401 when connecting to http://127.0.0.1:4444/json/version/?token=Ab+Cd%2FEf==. "
            "key Ab Cd/Ef== or Ab+Cd/Ef== or Ab%2BCd%2FEf%3D%3D")
    shown = scrub(text + " or Ab%2bCd%2fEf%3d%3d", endpoint)
    assert "http://127.0.0.1:4444/json/version/?token=***" in shown
    assert not any(form in shown.lower() for form in ("ab+cd", "ab cd", "cd%2fef", "cd/ef", "ab%2bcd")), shown
    # a quote in the key, a short password, a key in the fragment
    assert scrub("x ?token=ab'cdEFGH1234 y", "http://h/?token=ab'cdEFGH1234") == "x ?token=*** y"
    assert "pw12" not in scrub("refused user:pw12", "http://fleet:pw12@h/")
    assert "tokenXYZ123" not in scrub("key tokenXYZ123", "http://h/#token=tokenXYZ123")
    # a URL glued to what comes before it is still shown without its values
    assert scrub("port 9222.ws://h.example/?token=abc12", "ws://h.example/?token=abc12").endswith("?token=***")
    # the host, a scheme and a short user name with a password stay readable
    assert scrub("fleet refused: http://fleet.example:9222", "http://fleet:pw@fleet.example:9222") == \
        "fleet refused: http://fleet.example:9222"


class _Refusing(BaseHTTPRequestHandler):
    """A hosted browser's DevTools endpoint refusing a wrong or expired key."""

    def do_GET(self):  # noqa: N802  (http.server's name)
        self.send_response(401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_key_the_endpoint_refuses_is_named_nowhere(optout_env):
    """The answer a wrong key gets (401) names the URL in Playwright's error: optout's message, output and
    log show the endpoint without the key, which holds characters URLs encode."""
    key = "Ab+Cd%2FEf9x=="
    assert optout_env.run("accounts", "add", "remote_user", "--password-stdin", input="pw-123456\n").returncode == 0
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)) as server:
        endpoint = f"http://127.0.0.1:{port_of(server)}?token={key}"
        proc = optout_env.run("check", "remote_user", extra_env={"OPTOUT_BROWSER_ENDPOINT": endpoint})
    assert proc.returncode == 5 and "401" in proc.stderr, proc.stderr
    assert find_leaks([key, "Ab+Cd/Ef9x==", "Ab Cd/Ef9x=="], optout_env.written_files(), optout_env.outputs) == []


@pytest.mark.parametrize("variable, value", [
    ("OPTOUT_BROWSER_ENDPOINT", "ws://[::1:9/?token=Key-S3cret-7"),
    ("OPTOUT_BROWSER_ENDPOINT", "ftp://fleet.example/?token=Key-S3cret-7"),
    ("OPTOUT_TSA_URL", "ws://tsa.example/?key=Key-S3cret-7"),
    ("OPTOUT_BASE_URL", "https://user:Key-S3cret-7@x.com"),
    ("OPTOUT_BASE_URL", "https://user:Key-S3cret-7\uff03pw@x.com"),  # urlsplit's own error would quote it
    ("OPTOUT_TSA_URL", "http://tsa.example/?key=Key-S3cret-7\x07"),
])
def test_a_url_setting_that_cannot_be_used_is_refused_without_echoing_it(optout_env, variable, value):
    proc = optout_env.run("doctor", extra_env={variable: value})
    assert proc.returncode == 2 and "configuration is not valid" in proc.stderr, proc.stderr
    assert "Key-S3cret-7" not in proc.stdout + proc.stderr


def test_an_endpoint_scheme_in_capitals_is_used_as_written_in_lower_case():
    from optout.config import load_settings

    settings = load_settings(browser_endpoint="WSS://fleet.example/?token=K")
    assert settings.browser_endpoint == "wss://fleet.example/?token=K"


_URL_PIECE = st.text(alphabet="abcXYZ019-._~:/?#[]@!$&'()*+,;=% \"<>", max_size=12)


@settings(max_examples=400, deadline=None)
@given(before=_URL_PIECE, after=_URL_PIECE, user=_URL_PIECE, scheme=st.sampled_from(["http", "wss", "socks5"]))
def test_a_long_key_never_shows(before, after, user, scheme):
    """Wherever a key sits in a URL (a query value, a password, the user part, the path, the fragment) and
    whatever odd characters surround it, neither shown_url nor scrub prints it."""
    key = "K3yS3cretVALUE42"
    for url in (f"{scheme}://{user}@fleet.example{before}?token={key}&{after}",
                f"{scheme}://{user}:{key}@fleet.example{before}?{after}",
                f"{scheme}://{key}@fleet.example{before}?{after}",
                f"{scheme}://fleet.example{before}?{user}&token={key}&{after}",
                f"{scheme}://fleet.example/{key}/{before}?{after}",
                f"{scheme}://fleet.example{before}#{user}&token={key}&{after}"):
        assert key not in shown_url(url), url
        assert key not in scrub(f"error at {url}: {key} refused", url), url
