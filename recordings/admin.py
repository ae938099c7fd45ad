"""The test-only admin API (``/__replica__/...``) and a tiny synchronous client for it.

Tests use it to read the server's truth (the settings as stored, the login history, the "mailbox"),
to stage drift and faults, and to play the human who solves a captcha. The optout package never calls
it: on real X there is nothing like it.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

from aiohttp import web
from pydantic import ValidationError

from . import graphql, policy
from .api import LOGIN
from .scenarios import SETTING_FIELDS, Fault, Scenario
from .state import Account
from .web import state_of

PREFIX = "/__replica__"


def routes() -> list[web.RouteDef]:
    return [
        web.get(PREFIX + "/accounts/{handle}", get_account),
        web.post(PREFIX + "/accounts", add_account),
        web.post(PREFIX + "/accounts/{handle}/settings", set_settings),
        web.post(PREFIX + "/accounts/{handle}/human", human),
        web.post(PREFIX + "/accounts/{handle}/expire", expire_sessions),
        web.post(PREFIX + "/faults", add_fault),
        web.delete(PREFIX + "/faults", clear_faults),
        web.get(PREFIX + "/faults", list_faults),
        web.get(PREFIX + "/requests", get_requests),
        web.post(PREFIX + "/requests/clear", clear_requests),
        web.get(PREFIX + "/policy", get_policy),
        web.post(PREFIX + "/policy", set_policy),
        web.post(PREFIX + "/reset", reset),
        web.get(PREFIX + "/graphql", get_graphql_ids),
    ]


async def get_graphql_ids(request: web.Request) -> web.Response:
    """This replica start's GraphQL query ids (random, as each X web build's are)."""
    return web.json_response(request.app[graphql.QUERY_IDS])


def _account(request: web.Request) -> Account:
    account = state_of(request).account(request.match_info["handle"])
    if account is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "no such account"}), content_type="application/json")
    return account


async def _body(request: web.Request) -> dict:
    try:
        data = await request.json()
    except json.JSONDecodeError as err:
        raise _bad(f"body is not JSON: {err}") from err
    if not isinstance(data, dict):
        raise _bad("body must be a JSON object")
    return data


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": message}), content_type="application/json")


def _account_json(request: web.Request, account: Account) -> dict:
    return {
        "handle": account.scenario.handle,
        "language": account.scenario.language,
        "flow": account.scenario.flow,
        "settings": dict(account.settings),
        "logins": [r.as_json() for r in account.logins],
        "email_code": account.email_code,
        "notices": dict(account.notices),
        "live_sessions": state_of(request).live_sessions(account.key),
    }


async def get_account(request: web.Request) -> web.Response:
    return web.json_response(_account_json(request, _account(request)))


async def add_account(request: web.Request) -> web.Response:
    try:
        scenario = Scenario.model_validate(await _body(request))
    except ValidationError as err:
        raise _bad(str(err)) from err
    account = state_of(request).put_account(scenario)
    return web.json_response(_account_json(request, account))


async def set_settings(request: web.Request) -> web.Response:
    account = _account(request)
    data = await _body(request)
    if set(data) - set(SETTING_FIELDS) or not all(isinstance(v, bool) for v in data.values()):
        raise _bad(f"settings must map fields of {SETTING_FIELDS} to booleans")
    account.settings.update(data)
    return web.json_response(_account_json(request, account))


async def human(request: web.Request) -> web.Response:
    account = _account(request)
    account.human_ok = True
    return web.json_response(_account_json(request, account))


async def expire_sessions(request: web.Request) -> web.Response:
    account = _account(request)
    state_of(request).expire_sessions(account.key)
    return web.json_response(_account_json(request, account))


async def add_fault(request: web.Request) -> web.Response:
    try:
        fault = Fault.model_validate(await _body(request))
    except ValidationError as err:
        raise _bad(str(err)) from err
    state_of(request).add_fault(fault)
    return await list_faults(request)


async def clear_faults(request: web.Request) -> web.Response:
    state_of(request).faults.clear()
    return web.json_response([])


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response([f.model_dump() for f in state_of(request).faults])


async def get_requests(request: web.Request) -> web.Response:
    since = request.query.get("since")
    log = state_of(request).request_log(request.query.get("handle") or None, int(since) if since else None)
    return web.json_response(log)


async def clear_requests(request: web.Request) -> web.Response:
    state_of(request).requests.clear()
    return web.json_response([])


def _policy_json(request: web.Request) -> dict:
    return {"current": state_of(request).policy_current, "versions": list(policy.versions())}


async def get_policy(request: web.Request) -> web.Response:
    return web.json_response(_policy_json(request))


async def set_policy(request: web.Request) -> web.Response:
    current = (await _body(request)).get("current")
    if current not in policy.versions():
        raise _bad(f"unknown policy version {current!r}")
    state_of(request).policy_current = current
    return web.json_response(_policy_json(request))


async def reset(request: web.Request) -> web.Response:
    state_of(request).reset()
    request.app[LOGIN].flows.clear()
    return web.json_response({"ok": True})


class AdminError(RuntimeError):
    """The admin API refused a call (bad scenario, unknown handle...); the message says why."""


class AdminClient:
    """Synchronous client for tests: plain urllib, so it works from any thread or process."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def _call(self, method: str, path: str, body: object = None, query: dict | None = None):
        url = self.base_url + PREFIX + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            raise AdminError(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}") from None

    def get_account(self, handle: str) -> dict:
        return self._call("GET", f"/accounts/{_q(handle)}")

    def set_settings(self, handle: str, settings: dict[str, bool]) -> dict:
        return self._call("POST", f"/accounts/{_q(handle)}/settings", settings)

    def add_account(self, scenario: dict) -> dict:
        return self._call("POST", "/accounts", scenario)

    def human(self, handle: str) -> dict:
        return self._call("POST", f"/accounts/{_q(handle)}/human", {})

    def expire_sessions(self, handle: str) -> dict:
        return self._call("POST", f"/accounts/{_q(handle)}/expire", {})

    def add_fault(self, fault: dict) -> list[dict]:
        return self._call("POST", "/faults", fault)

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def requests(self, handle: str | None = None, since: int | None = None) -> list[dict]:
        return self._call("GET", "/requests", query={"handle": handle, "since": since})

    def clear_requests(self) -> None:
        self._call("POST", "/requests/clear", {})

    def policy(self) -> dict:
        return self._call("GET", "/policy")

    def set_policy(self, version: str) -> dict:
        return self._call("POST", "/policy", {"current": version})

    def reset(self) -> None:
        self._call("POST", "/reset", {})

    def graphql_query_ids(self) -> dict[str, str]:
        return self._call("GET", "/graphql")


def _q(handle: str) -> str:
    return urllib.parse.quote(handle.lstrip("@"), safe="")
