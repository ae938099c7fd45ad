"""Small aiohttp helpers shared by the page, API and login handlers: who is asking, and X's replies."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from aiohttp import web

from .state import Account, ReplicaState, Session

STATE = web.AppKey("state", ReplicaState)
HANDLE = web.RequestKey("handle", str)  # for the request log: whose request this was, if known

# Cookies X sets at login; host-only (no Domain) and not Secure, because the replica is plain http.
_COOKIE = {"path": "/", "samesite": "Lax"}
_YEAR = 365 * 24 * 3600


def state_of(request: web.Request) -> ReplicaState:
    return request.app[STATE]


def session_of(request: web.Request) -> Session | None:
    return state_of(request).live_session(request.cookies.get("auth_token"))


def account_of(request: web.Request) -> Account | None:
    session = session_of(request)
    return state_of(request).account(session.handle) if session else None


def x_error(status: int, code: int, message: str, headers: dict | None = None) -> web.Response:
    """X's error body: ``{"errors":[{"code":..,"message":..}]}``."""
    return web.json_response({"errors": [{"code": code, "message": message}]}, status=status, headers=headers)


def redirect(location: str) -> web.Response:
    """A 302 with the Location exactly as given (aiohttp's HTTPFound would re-normalise the query)."""
    return web.Response(status=302, headers={"Location": location})


def login_redirect(request: web.Request) -> web.Response:
    """Where X sends a logged-out visitor of a logged-in page; a dead auth_token is cleared."""
    target = quote(request.path_qs, safe="")
    response = redirect(f"/i/flow/login?redirect_after_login={target}")
    if request.cookies.get("auth_token"):
        response.del_cookie("auth_token", path="/")
    return response


def ensure_guest_cookies(request: web.Request, response: web.StreamResponse) -> None:
    """A first visit gets a guest ct0 (so the login POSTs can carry x-csrf-token) and a guest_id."""
    if not request.cookies.get("ct0"):
        response.set_cookie("ct0", secrets.token_hex(16), max_age=6 * 3600, **_COOKIE)
    if not request.cookies.get("guest_id"):
        response.set_cookie("guest_id", f"v1%3A{secrets.randbelow(10**18)}", max_age=2 * _YEAR, **_COOKIE)


def set_login_cookies(response: web.StreamResponse, session: Session, account: Account) -> None:
    response.set_cookie("auth_token", session.token, max_age=5 * _YEAR, httponly=True, **_COOKIE)
    response.set_cookie("ct0", secrets.token_hex(80), max_age=5 * _YEAR, **_COOKIE)
    response.set_cookie("twid", f"u%3D{account.scenario.user_id}", max_age=5 * _YEAR, **_COOKIE)
    response.set_cookie("kdt", secrets.token_urlsafe(30), max_age=2 * _YEAR, httponly=True, **_COOKIE)
    response.set_cookie("lang", account.scenario.language, **_COOKIE)
