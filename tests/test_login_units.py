"""The pure parts of the login: screen recognition (no visible text), cookies for the right host, TOTP
codes for the 80-bit keys X hands out, humane pacing bounds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import struct
import time

import pytest
from pydantic import SecretStr

from optout.config import load_settings
from optout.credentials import SessionCookies
from optout.otp import ServiceTOTP, normalize_totp_secret
from optout.x import screens
from optout.x.login import session_cookie_params
from optout.x.pacing import pause


def test_cookies_cover_x_subdomains_on_x_and_the_host_on_the_replica():
    session = SessionCookies(auth_token=SecretStr("a" * 40), ct0=SecretStr("b" * 32), twid="u%3D42", expires=2e9)
    real = session_cookie_params(session, load_settings(base_url="https://x.com"))
    assert {c["domain"] for c in real} == {".x.com"} and all(c["secure"] for c in real)
    assert [c["httpOnly"] for c in real] == [True, False, False]
    local = session_cookie_params(session, load_settings(base_url="http://127.0.0.1:8123"))
    assert {c["url"] for c in local} == {"http://127.0.0.1:8123"} and "domain" not in local[0]


@pytest.mark.parametrize("probe,path,subtask,expected", [
    ({"identifier": True}, "/i/flow/login", None, "identifier"),
    ({"identifier": True, "password": True}, "/i/jf/onboarding/web", None, "password"),
    ({"ocf": {"autocomplete": "one-time-code", "inputmode": "numeric"}}, "/i/flow/login", None, "two_factor"),
    ({"ocf": {"autocomplete": "one-time-code"}}, "/i/flow/login", screens.SUBTASK_EMAIL, "email_code"),
    ({"ocf": {"name": "text"}}, "/i/flow/login", screens.SUBTASK_ALTERNATE, "unusual_activity"),
    ({"code_boxes": 6}, "/i/jf/onboarding/web/two_factor", None, "two_factor"),
    ({"code_boxes": 6}, "/i/jf/onboarding/web/email_code", None, "email_code"),
    ({"password": True}, "/i/flow/login", screens.SUBTASK_DENIED, "suspicious_login"),
    ({}, "/i/flow/login", None, "loading"),
])
def test_screens_are_recognised_without_text(probe, path, subtask, expected):
    assert screens.classify_login(probe, path, subtask) == expected


def _hotp(secret: str, counter: int) -> str:
    """RFC 4226, written out, to check ServiceTOTP independently of pyotp."""
    digest = hmac.new(base64.b32decode(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0xF
    return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def test_x_sixteen_character_totp_keys_work():
    """X hands out 16-character keys (80 bits), which plain pyotp 2.12 refuses."""
    secret = normalize_totp_secret("jbsw y3dp ehpk 3pxp")
    assert secret == "JBSWY3DPEHPK3PXP"
    assert ServiceTOTP(secret).at(1_700_000_000) == _hotp(secret, 1_700_000_000 // 30)


def test_pauses_stay_within_the_configured_bounds():
    settings = load_settings(pause_min_ms=30, pause_max_ms=60)
    started = time.monotonic()
    asyncio.run(pause(settings))
    assert 0.029 <= time.monotonic() - started < 1.0
    started = time.monotonic()
    asyncio.run(pause(load_settings(pause_min_ms=0, pause_max_ms=0)))
    assert time.monotonic() - started < 0.02


# ---- X's answers on the login page: which error answers the step optout typed ----


class _Page:
    """What XResponses needs of a page: its event listeners, fired by hand in the order a test wants."""

    def __init__(self):
        self.listeners = {}

    def on(self, event, listener):
        self.listeners[event] = listener

    def remove_listener(self, event, listener):
        self.listeners.pop(event, None)


class _Request:
    def __init__(self, subtask, *, token="tok", poll=False, text=None):
        data = {"subtask_id": subtask, **({"poll": True} if poll else {"enter_text": {"text": text}})}
        self.url, self.method = "http://x.test/1.1/onboarding/task.json", "POST"
        self.post_data = json.dumps({"flow_token": token, "subtask_inputs": [data]})


class _Response:
    def __init__(self, request, status, body):
        self.request, self.url, self.status, self.body = request, request.url, status, body
        self.headers = {"content-type": "application/json"}

    async def json(self):
        return self.body


def _answered(watcher, page, request, next_subtask=None, error=None):
    body = {"errors": [{"code": error[0], "message": error[1]}]} if error else {
        "flow_token": "tok", "subtasks": [{"subtask_id": next_subtask}] if next_subtask else []}
    asyncio.run(page.listeners["response"](_Response(request, 400 if error else 200, body)))


EXPIRED = (366, "Flow token expired. Please start again.")


def _watch():
    from optout.x.responses import XResponses

    page = _Page()
    return page, XResponses(page)


def test_a_poll_refused_after_the_code_moved_x_on_is_not_an_error():
    page, watcher = _watch()
    code, poll = _Request("LoginAcid", text="123456"), _Request("LoginAcid", poll=True)
    page.listeners["request"](code)
    page.listeners["request"](poll)
    _answered(watcher, page, poll, error=EXPIRED)  # the poll's refusal arrives first
    assert watcher.errors == []  # held: the code sent before it is unanswered
    _answered(watcher, page, code, next_subtask="LoginSuccessSubtask")
    assert watcher.errors == [] and watcher.subtask == "LoginSuccessSubtask"


def test_a_wrong_code_counts_once_the_poll_before_it_is_answered():
    page, watcher = _watch()
    poll, code = _Request("LoginAcid", poll=True), _Request("LoginAcid", text="000000")
    page.listeners["request"](poll)
    page.listeners["request"](code)
    _answered(watcher, page, code, error=(236, "Your code was incorrect."))
    assert watcher.errors == []
    _answered(watcher, page, poll, next_subtask="LoginAcid")
    assert [(e.code, e.message) for e in watcher.errors] == [(236, "Your code was incorrect.")]


def test_a_poll_answered_late_does_not_take_the_page_back_to_its_step():
    page, watcher = _watch()
    poll, code = _Request("LoginAcid", poll=True), _Request("LoginAcid", text="123456")
    page.listeners["request"](poll)
    page.listeners["request"](code)
    _answered(watcher, page, code, next_subtask="LoginSuccessSubtask")
    _answered(watcher, page, poll, next_subtask="LoginAcid")
    assert watcher.subtask == "LoginSuccessSubtask" and watcher.errors == []


def test_an_error_after_a_lost_request_counts_and_other_steps_are_apart():
    page, watcher = _watch()
    lost, again = _Request("LoginAcid", text="123456"), _Request("LoginAcid", text="123456")
    other_flow = _Request("LoginAcid", token="another", text="123456")
    for request in (lost, again, other_flow):
        page.listeners["request"](request)
    _answered(watcher, page, other_flow, next_subtask="LoginSuccessSubtask")
    page.listeners["requestfailed"](lost)
    _answered(watcher, page, again, error=EXPIRED)
    assert [e.code for e in watcher.errors] == [366]


def test_an_error_to_a_request_not_answering_a_step_counts_at_once():
    page, watcher = _watch()
    start = _Request("LoginAcid")
    start.post_data = json.dumps({"input_flow_data": {}})
    page.listeners["request"](start)
    _answered(watcher, page, start, error=(399, "Sorry, we could not find your account."))
    assert [e.code for e in watcher.errors] == [399]


class _ClosingPage:
    """A login page whose probe fails: mid-navigation while open, for good once closed."""

    url = "http://x.test/i/flow/login"

    def __init__(self, closed):
        self.closed = closed

    def is_closed(self):
        return self.closed

    async def evaluate(self, *args):
        from playwright.async_api import Error as PlaywrightError

        raise PlaywrightError("Target page, context or browser has been closed" if self.closed
                              else "Execution context was destroyed, most likely because of a navigation")


@pytest.mark.parametrize("closed", [False, True])
def test_a_probe_cut_short_waits_for_the_page_unless_the_page_is_closed(closed):
    from playwright.async_api import Error as PlaywrightError

    from optout.x.login.screen import Attempt, read_screen

    attempt = Attempt(context=None, page=_ClosingPage(closed), handle="h", settings=load_settings(), prompter=None)
    if closed:
        with pytest.raises(PlaywrightError):
            asyncio.run(read_screen(attempt))
    else:
        assert asyncio.run(read_screen(attempt)).screen is screens.LoginScreen.LOADING
