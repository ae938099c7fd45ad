"""The pure parts of the login: screen recognition (no visible text), cookies for the right host, TOTP
codes for the 80-bit keys X hands out, humane pacing bounds, which of X's answers answer a step."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import struct
import time

import pytest
from playwright.async_api import Error as PlaywrightError
from pydantic import SecretStr

from optout.config import load_settings
from optout.credentials import SessionCookies
from optout.otp import ServiceTOTP, normalize_totp_secret
from optout.x import screens
from optout.x.login import session_cookie_params
from optout.x.login.screen import Attempt, read_screen
from optout.x.pacing import pause
from optout.x.responses import XResponses


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


# ---- X's answers on the login page: which error is X refusing the answer optout typed ----


class _Page:
    """What XResponses needs of a page: its event listeners, fired by hand in the order a test wants, as
    Playwright fires them (a coroutine listener runs later, in a task of its own)."""

    def __init__(self):
        self.listeners = {}

    def on(self, event, listener):
        self.listeners.setdefault(event, []).append(listener)

    def remove_listener(self, event, listener):
        self.listeners[event].remove(listener)

    def sends(self, request):
        for listener in self.listeners["request"]:
            listener(request)
        return request

    def answers(self, request, status=200, body=None, *, content_type="application/json", cut_short=False):
        response = _Response(request, status, body, content_type)
        later = [listener(response) for listener in self.listeners["response"]]
        if cut_short:  # Playwright reports the body's failure before the coroutine listener reads it
            for listener in self.listeners["requestfailed"]:
                listener(request)
        for pending in later:
            if asyncio.iscoroutine(pending):
                asyncio.run(pending)


class _Request:
    url, method = "http://x.test/1.1/onboarding/task.json", "POST"

    def __init__(self, body):
        self.post_data = json.dumps(body)


class _Response:
    def __init__(self, request, status, body, content_type):
        self.request, self.url, self.status, self.body = request, request.url, status, body
        self.headers = {"content-type": content_type}

    async def json(self):
        if self.body is None:
            raise ValueError("not JSON")
        return self.body


def _step(subtask, **answer):
    return _Request({"flow_token": "tok", "subtask_inputs": [{"subtask_id": subtask, **answer}]})


def _next(subtask):
    return {"flow_token": "tok", "subtasks": [{"subtask_id": subtask}]}


def _refusals(watcher):
    return [(e.code, e.status) for e in watcher.errors if e.refuses_answer]


EXPIRED = {"errors": [{"code": 366, "message": "Flow token expired. Please start again."}]}


def test_a_poll_x_refuses_after_the_code_went_off_is_not_a_refusal_of_the_code():
    page = _Page()
    watcher = XResponses(page)
    watcher.answering("123456")
    code = page.sends(_step("LoginAcid", enter_text={"text": "123456", "link": "next_link"}))
    poll = page.sends(_step("LoginAcid", poll=True))
    page.answers(poll, 400, EXPIRED)  # the poll's refusal can arrive first
    page.answers(code, 200, _next("LoginSuccessSubtask"))
    assert _refusals(watcher) == [] and watcher.subtask == "LoginSuccessSubtask"
    assert [e.code for e in watcher.errors] == [366]  # kept, for a refusal the page shows but optout did not see


def test_a_refusal_of_the_typed_answer_counts_whatever_its_body():
    page = _Page()
    watcher = XResponses(page)
    password = 'pa"ss\\wörd'  # JSON escapes it in the request: compared unescaped
    watcher.answering(password)
    wrong = page.sends(_step("LoginEnterPassword", enter_password={"password": password}))
    page.answers(wrong, 400, {"errors": [{"code": 399, "message": "Wrong password!"}]})
    limited = page.sends(_step("LoginEnterPassword", enter_password={"password": password}))
    page.answers(limited, 429, None, content_type="text/html", cut_short=True)
    assert _refusals(watcher) == [(399, 400), (screens.CODE_RATE_LIMIT, 429)]


def test_a_copy_of_an_answer_x_already_accepted_is_not_refused_with_the_next_step():
    page = _Page()
    watcher = XResponses(page)
    watcher.answering("someone")
    first = page.sends(_step("LoginEnterUserIdentifierSSO", text="someone"))
    page.answers(first, 200, _next("LoginEnterPassword"))
    copy = page.sends(_step("LoginEnterUserIdentifierSSO", text="someone"))
    page.answers(copy, 400, EXPIRED)
    assert _refusals(watcher) == [] and watcher.subtask == "LoginEnterPassword"


def test_an_answer_that_arrives_late_does_not_take_the_page_back_to_an_earlier_step():
    page = _Page()
    watcher = XResponses(page)
    poll = page.sends(_step("LoginAcid", poll=True))
    code = page.sends(_step("LoginAcid", enter_text={"text": "123456"}))
    page.answers(code, 200, _next("LoginSuccessSubtask"))
    page.answers(poll, 200, _next("LoginAcid"))
    assert watcher.subtask == "LoginSuccessSubtask"


def test_a_new_login_hears_nothing_of_the_last_ones_requests():
    page = _Page()
    watcher = XResponses(page)
    old_poll = page.sends(_step("DenyLoginSubtask", poll=True))
    watcher.new_flow()
    start = page.sends(_Request({"input_flow_data": {}}))
    page.answers(old_poll, 200, _next("DenyLoginSubtask"))
    assert watcher.subtask is None
    page.answers(start, 200, _next("LoginEnterUserIdentifierSSO"))
    assert watcher.subtask == "LoginEnterUserIdentifierSSO"


def test_nothing_is_a_refusal_once_the_login_is_over():
    page = _Page()
    watcher = XResponses(page)
    watcher.answering("123456")
    watcher.answering(None)
    page.answers(page.sends(_step("LoginAcid", enter_text={"text": "123456"})), 400, EXPIRED)
    assert _refusals(watcher) == []


class _ClosingPage:
    """A login page whose probe fails: mid-navigation while open, for good once closed."""

    url = "http://x.test/i/flow/login"

    def __init__(self, closed):
        self.closed = closed

    def is_closed(self):
        return self.closed

    async def evaluate(self, *args):
        raise PlaywrightError("Target page, context or browser has been closed" if self.closed
                              else "Execution context was destroyed, most likely because of a navigation")


@pytest.mark.parametrize("closed", [False, True])
def test_a_probe_cut_short_waits_for_the_page_unless_the_page_is_closed(closed):
    attempt = Attempt(context=None, page=_ClosingPage(closed), handle="h", settings=load_settings(), prompter=None)
    if closed:
        with pytest.raises(PlaywrightError):
            asyncio.run(read_screen(attempt))
    else:
        assert asyncio.run(read_screen(attempt)).screen is screens.LoginScreen.LOADING
