"""X's GraphQL API for the Grok preferences (x-facts, "2026 update"): the Grok page reads them with the
query ``GrokSettingsScreenQuery`` and writes each with its own mutation, at
``/i/api/graphql/<queryId>/<OperationName>``. Query ids change with every X web build; here they are drawn
at random when the replica starts and handed to the page in its boot block (as X's bundle carries them),
so a client can only match requests by operation name.

Errors take GraphQL's form: HTTP 200 with ``{"errors": [...]}`` (and no ``data`` for what failed); a
rate limit is HTTP 429 with X's x-rate-limit headers (the server middleware), or ``errors[{code: 88}]``.
"""

from __future__ import annotations

import asyncio
import json
import secrets

from aiohttp import web

from .state import Account
from .web import account_of, state_of

PREFIX = "/i/api/graphql/"
QUERY = "GrokSettingsScreenQuery"
# mutation -> (its variable, the user preference it writes)
MUTATIONS: dict[str, tuple[str, str]] = {
    "XaiDataSharingSettingsMutation": ("allowXaiDataSharing", "allow_xai_data_sharing"),
    "XaiPersonalizationSettingsMutation": ("allowXaiPersonalization", "allow_xai_personalization"),
    "XaiMemoryMutation": ("allowGrokMemory", "allow_grok_memory"),
}
PREFERENCES: tuple[str, ...] = tuple(pref for _, pref in MUTATIONS.values())
QUERY_IDS = web.AppKey("graphql_query_ids", dict)


def new_query_ids() -> dict[str, str]:
    """One web build's query ids: random per replica start, 22 characters like X's."""
    return {name: secrets.token_urlsafe(16)[:22] for name in (QUERY, *MUTATIONS)}


def routes() -> list[web.RouteDef]:
    return [web.get(PREFIX + "{query_id}/{operation}", graphql), web.post(PREFIX + "{query_id}/{operation}", graphql)]


def fault_path(path: str) -> str:
    """The path faults are matched against: the operation, without the build's query id."""
    if path.startswith(PREFIX):
        return PREFIX + path.rsplit("/", 1)[-1]
    return path


def _error(message: str, code: int, status: int = 200, **extensions) -> web.Response:
    return web.json_response({"errors": [{"message": message, "code": code, "kind": "Operational",
                                          "name": "GenericError", "extensions": {"code": code, **extensions}}]},
                             status=status)


async def graphql(request: web.Request) -> web.Response:
    operation, query_id = request.match_info["operation"], request.match_info["query_id"]
    known = request.app[QUERY_IDS]
    if known.get(operation) != query_id:  # an old build's id, or an operation this build lacks
        return web.json_response({"errors": [{"message": "Query: Unspecified"}]}, status=404)
    account = account_of(request)
    if account is None:
        return _error("Could not authenticate you", 32, status=401)
    if operation == QUERY and request.method == "GET":
        return await _read(request, account)
    if operation in MUTATIONS and request.method == "POST":
        return await _write(request, account, operation)
    return _error(f"{operation} does not accept {request.method}", 214, status=400)


def _preferences(account: Account) -> dict:
    return {"data": {"viewer": {"__typename": "Viewer", "user_preferences": {
        "__typename": "UserPreferences", **{pref: account.settings[pref] for pref in PREFERENCES}}}}}


async def _read(request: web.Request, account: Account) -> web.Response:
    if state_of(request).take_fault("went_wrong", account.key, fault_path(request.path)):
        return _error("Over capacity", 130)
    return web.json_response(_preferences(account))


async def _write(request: web.Request, account: Account, operation: str) -> web.Response:
    variable, preference = MUTATIONS[operation]
    try:
        body = await request.json()
        value = body["variables"][variable]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
        return _error(f"Variable '{variable}' of type Boolean! was not provided.", 214)
    if not isinstance(value, bool):
        return _error(f"Variable '{variable}' got an invalid value.", 214)
    state = state_of(request)
    if state.take_fault("save_fails", account.key, fault_path(request.path)):
        return _error("Internal error", 131)
    before = account.settings[preference]
    account.settings[preference] = value
    reverts = state.take_fault("save_reverts", account.key, fault_path(request.path))
    if reverts:  # accepted now, quietly undone later: only a fresh read shows it
        asyncio.get_running_loop().call_later(reverts.after_ms / 1000, account.settings.__setitem__, preference,
                                              before)
    return web.json_response({"data": {"user_preferences_put": {"__typename": "UserPreferences",
                                                                 preference: value}}})
