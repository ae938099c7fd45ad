"""The pure parts of the login: screen recognition (no visible text), cookies for the right host, TOTP
codes for the 80-bit keys X hands out, humane pacing bounds."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
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
