"""The JSON endpoints the page script calls: settings, the viewer, login steps, string tables.

The settings endpoint is where the faults that matter most to the driver live: a save that fails, a
save that is accepted and later undone, a page whose data will not load.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from . import i18n
from .automation import TOKEN_FIELD
from .login import LoginError, LoginMachine
from .scenarios import LANGUAGES, REST_FIELDS, SHEET_FAULTS
from .state import Account
from .web import HANDLE, account_of, set_login_cookies, state_of, x_error

LOGIN = web.AppKey("login", LoginMachine)
SETTINGS_PATH = "/1.1/account/settings.json"


def routes() -> list[web.RouteDef]:
    return [
        web.get(SETTINGS_PATH, get_settings),
        web.post(SETTINGS_PATH, post_settings),
        web.post(NOTICES_PATH, post_notice),
        web.get("/1.1/account/verify_credentials.json", verify_credentials),
        web.post("/1.1/onboarding/task.json", legacy_task),
        web.post("/i/jf/onboarding/api", new_flow_step),
        web.get("/i18n/{lang}.json", string_table),
    ]


def _require_account(request: web.Request) -> Account:
    """The caller's account; a missing or dead session answers X's 401 (code 89 when it expired)."""
    account = account_of(request)
    if account is None:
        if request.cookies.get("auth_token"):
            code, message = 89, "Invalid or expired token."
        else:
            code, message = 32, "Could not authenticate you."
        body = json.dumps({"errors": [{"code": code, "message": message}]})
        raise web.HTTPUnauthorized(text=body, content_type="application/json")
    return account


def _settings_body(account: Account) -> dict:
    s = account.scenario
    return {
        "screen_name": s.handle,
        "language": s.language,
        "protected": False,
        "discoverable_by_email": True,
        "discoverable_by_mobile_phone": False,
        "geo_enabled": False,
        **{name: account.settings[name] for name in REST_FIELDS},  # Grok's are GraphQL preferences
    }


NOTICES_PATH = "/1.1/account/notices.json"  # replica-only: where a sheet's buttons post the answer


async def post_notice(request: web.Request) -> web.Response:
    """A sheet was answered: remember the answer and stop showing that sheet to the account."""
    account = _require_account(request)
    state = state_of(request)
    form = await request.post()
    kind, answer = str(form.get("notice", "")), str(form.get("answer", ""))
    if kind not in SHEET_FAULTS:
        return x_error(400, 214, "Unknown notice.")
    account.notices[kind] = answer
    state.faults = [f for f in state.faults if not (f.kind == kind and f.handle in (None, account.key))]
    return web.json_response({"ok": True})


async def get_settings(request: web.Request) -> web.Response:
    account = _require_account(request)
    if state_of(request).take_fault("went_wrong", account.key, request.path):
        return x_error(503, 130, "Over capacity")
    return web.json_response(_settings_body(account))


async def post_settings(request: web.Request) -> web.Response:
    account = _require_account(request)
    state = state_of(request)
    form = await request.post()
    changes: dict[str, bool] = {}
    for name, value in form.items():
        if name not in REST_FIELDS or value not in ("true", "false"):
            return x_error(400, 214, f"Bad value for {name}.")
        changes[name] = value == "true"
    if state.take_fault("save_fails", account.key, request.path):
        return x_error(500, 131, "Internal error.")
    before = {name: account.settings[name] for name in changes}
    account.settings.update(changes)
    reverts = state.take_fault("save_reverts", account.key, request.path)
    if reverts:
        # Accepted now, quietly undone later: only a fresh read shows it.
        asyncio.get_running_loop().call_later(reverts.after_ms / 1000, account.settings.update, before)
    return web.json_response(_settings_body(account))


async def verify_credentials(request: web.Request) -> web.Response:
    account = _require_account(request)
    s = account.scenario
    return web.json_response({
        "id_str": s.user_id,
        "screen_name": s.handle,
        "name": s.handle.capitalize(),
        "lang": s.language,
    })


async def legacy_task(request: web.Request) -> web.Response:
    return await _login_step(request, ui="legacy")


async def new_flow_step(request: web.Request) -> web.Response:
    return await _login_step(request, ui="new")


async def _login_step(request: web.Request, ui: str) -> web.Response:
    """One onboarding step: ``{flow_token, subtask_inputs:[...]}``, or a start without a token."""
    machine = request.app[LOGIN]
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        data = {}
    token = data.get("flow_token") if isinstance(data, dict) else None
    inputs = (data.get("subtask_inputs") or [{}]) if isinstance(data, dict) else [{}]
    # For the request log: the account is known once the identifier step has succeeded.
    request[HANDLE] = machine.handle_of(token)
    try:
        if token:
            result = machine.submit(token, inputs[0])
        else:
            flow_data = (data.get("input_flow_data") or {}) if isinstance(data, dict) else {}
            device_token = flow_data.get(TOKEN_FIELD) if isinstance(flow_data, dict) else None
            result = machine.start(ui, device_token, dict(request.headers))
    except LoginError as err:
        request[HANDLE] = machine.handle_of(token)
        return web.json_response(err.as_json(), status=err.status)
    request[HANDLE] = machine.handle_of(result.body.get("flow_token")) or request[HANDLE]
    response = web.json_response(result.body)
    if result.session:
        account = state_of(request).account(result.session.handle)
        request[HANDLE] = account.key
        set_login_cookies(response, result.session, account)
    return response


async def string_table(request: web.Request) -> web.Response:
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise web.HTTPNotFound()
    return web.json_response(i18n.strings(lang), headers={"Cache-Control": "max-age=3600"})
