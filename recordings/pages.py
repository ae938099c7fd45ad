"""The HTML routes: which screen a URL is, and the empty app shell that app.js draws it into.

Like X, the server never sends the screen itself: it sends a shell with a small JSON ``boot`` block
(what screen, which language, which links) and the page script fetches the data and draws after a
short delay. So a driver that reads the DOM before the page settles fails here as it would on X.
"""

from __future__ import annotations

import html
import json
from urllib.parse import quote

from aiohttp import web

from . import graphql, i18n, policy
from .login import NEW_FLOW_URL
from .scenarios import PAGE_FAULTS, SHEET_FAULTS
from .web import account_of, ensure_guest_cookies, login_redirect, redirect, state_of

# The settings list (left column), in X's order.
SETTINGS_SECTIONS = (
    "account",
    "monetization",
    "premium",
    "creator_subscriptions",
    "security_and_account_access",
    "privacy_and_safety",
    "notifications",
    "accessibility_display_and_languages",
    "about",
)
# The pages under "Data sharing and personalization", each with its checkbox fields (API names).
SETTING_PAGES = (
    "ads_preferences",
    "off_twitter_activity",
    "data_sharing_with_business_partners",
    "location_information",
    "grok_settings",
)
_APP_PAGES = ("home", "explore", "notifications", "messages")
# Where a "renamed" page lives now (X gave it a new slug; the old URL answers the 404 pane).
RENAMED = {
    "ads_preferences": "ads_and_personalization",
    "off_twitter_activity": "inferred_identity",
    "data_sharing_with_business_partners": "partner_data_sharing",
    "location_information": "location_personalization",
    "grok_settings": "grok_and_third_party_collaborators",
}

LOGIN_FLOW = web.AppKey("login_flow", str)
SETTLE_MS = web.AppKey("settle_ms", tuple)  # (low, high): how long the page script waits before drawing


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", landing),
        web.get("/i/flow/login", legacy_login),
        web.get("/i/jf/onboarding/web", new_login),
        web.get("/i/jf/onboarding/web/{step}", new_login),
        web.get("/i/arkose/challenge", arkose_frame),
        web.get("/settings", settings_root),
        web.get("/settings/{tail:.+}", settings_page),
        web.get("/privacy", privacy_short),
        web.get("/en/privacy", privacy_current),
        web.get("/en/privacy/previous/{version}", privacy_previous),
        *[web.get(f"/{name}", app_page) for name in _APP_PAGES],
        web.get("/{name}", profile_or_missing),
        web.get("/{tail:.*}", not_found),
    ]


def shell(request: web.Request, page: str, **boot) -> web.Response:
    """The app shell for one screen: an X splash, the boot JSON and app.js."""
    account = account_of(request)
    if account:
        lang = account.scenario.language
        s = account.scenario
        boot.setdefault("viewer_flags", {
            "cookie_banner": s.cookie_banner,
            "welcome_dialog": s.welcome_dialog,
            "single_inferred_box": s.single_inferred_box,
            "grok_memory_control": s.grok_memory_control,
            "sheet": _sheet(request, account),
        })
    else:
        lang = i18n.guest_language(request.cookies.get("lang"), request.headers.get("Accept-Language"))
    boot.update(page=page, lang=lang, logged_in=account is not None, settle_ms=request.app[SETTLE_MS])
    boot["graphql"] = request.app[graphql.QUERY_IDS]  # this build's query ids, as X's bundle carries them
    # "</" would end the script element early; JSON allows the escaped form.
    boot_json = json.dumps(boot).replace("</", "<\\/")
    body = _SHELL.format(lang=html.escape(lang), boot=boot_json)
    response = web.Response(text=body, content_type="text/html")
    ensure_guest_cookies(request, response)
    return response


async def landing(request: web.Request) -> web.StreamResponse:
    if account_of(request):
        return redirect("/home")
    return shell(request, "landing")


async def legacy_login(request: web.Request) -> web.StreamResponse:
    after = request.query.get("redirect_after_login")
    if account_of(request):
        return redirect(_safe_target(after))
    if request.app[LOGIN_FLOW] == "new":
        suffix = f"&redirect_after_login={quote(after, safe='')}" if after else ""
        return redirect(NEW_FLOW_URL + suffix)
    return shell(request, "login_legacy")


async def new_login(request: web.Request) -> web.StreamResponse:
    if account_of(request):
        return redirect(_safe_target(request.query.get("redirect_after_login")))
    return shell(request, "login_new", step=request.match_info.get("step", ""))


async def arkose_frame(request: web.Request) -> web.StreamResponse:
    return shell(request, "arkose")


async def app_page(request: web.Request) -> web.StreamResponse:
    if not account_of(request):
        return login_redirect(request)
    return shell(request, request.path.strip("/"))


async def profile_or_missing(request: web.Request) -> web.StreamResponse:
    """/<screen_name> is a profile when the account exists, else X's 404 pane (with HTTP 200)."""
    if state_of(request).account(request.match_info["name"]):
        if not account_of(request):
            return login_redirect(request)
        return shell(request, "profile", screen_name=request.match_info["name"])
    return shell(request, "not_found")


async def not_found(request: web.Request) -> web.StreamResponse:
    return shell(request, "not_found")


async def settings_root(request: web.Request) -> web.StreamResponse:
    if not account_of(request):
        return login_redirect(request)
    return redirect("/settings/account")


async def settings_page(request: web.Request) -> web.StreamResponse:
    account = account_of(request)
    if not account:
        return login_redirect(request)
    state = state_of(request)
    handle, path = account.key, request.path.rstrip("/")
    tail = path.removeprefix("/settings/")
    section = tail if tail in SETTINGS_SECTIONS else None
    renamed_from = {new: old for old, new in RENAMED.items()}
    if tail in SETTING_PAGES:
        gone = (state.take_fault("not_found", handle, path) or state.take_fault("moved", handle, path)
                or state.peek_fault("renamed", handle, path))
        section = None if gone else tail
    elif tail in renamed_from and state.peek_fault("renamed", handle, f"/settings/{renamed_from[tail]}"):
        section = renamed_from[tail]
    elif tail.startswith("privacy_and_safety/"):
        # Where a "moved" page lives now; without that fault this URL does not exist.
        segment = tail.split("/", 1)[1]
        old = f"/settings/{segment}"
        if segment in SETTING_PAGES and state.peek_fault("moved", handle, old):
            section = segment
    links = {}
    for page in SETTING_PAGES:
        old = f"/settings/{page}"
        links[page] = old
        if state.peek_fault("moved", handle, old):
            links[page] = f"/settings/privacy_and_safety/{page}"
        elif state.peek_fault("renamed", handle, old):
            links[page] = f"/settings/{RENAMED[page]}"
    page_faults = []
    if section in SETTING_PAGES:
        page_faults = [{"kind": f.kind, "field": f.field, "saves": f.saves} for kind in PAGE_FAULTS
                       if (f := state.peek_fault(kind, handle, f"/settings/{section}"))]
    return shell(request, "settings", section=section or "not_found", links=links, page_faults=page_faults)


def _sheet(request: web.Request, account) -> str | None:
    """The sheet X lays over this account's pages until it is answered (a sheet fault), if any."""
    state = state_of(request)
    return next((kind for kind in SHEET_FAULTS if state.peek_fault(kind, account.key, request.path)), None)


async def privacy_short(request: web.Request) -> web.StreamResponse:
    return redirect("/en/privacy")


async def privacy_current(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    version = policy.versions()[state.policy_current]
    return web.Response(text=policy.render(version, state.policy_current), content_type="text/html")


async def privacy_previous(request: web.Request) -> web.StreamResponse:
    state = state_of(request)
    version = policy.versions().get(request.match_info["version"])
    if version is None or version.number > policy.versions()[state.policy_current].number:
        return shell(request, "not_found")
    return web.Response(text=policy.render(version, state.policy_current), content_type="text/html")


def _safe_target(after: str | None) -> str:
    """Only same-site paths are honoured as redirect_after_login, as on X."""
    if after and after.startswith("/") and not after.startswith("//"):
        return after
    return "/home"


_SHELL = """<!DOCTYPE html>
<html lang="{lang}" dir="ltr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>X</title>
<link rel="stylesheet" href="/static/app.css">
</head><body>
<div id="react-root"><div class="splash" aria-label="Loading"><svg viewBox="0 0 24 24" width="72" height="72"><path d="M18.244 2.25h3.308l-7.227 8.26 8.502 11.24H16.17l-5.214-6.817L4.99 21.75H1.68l7.73-8.835L1.254 2.25H8.08l4.713 6.231zm-1.161 17.52h1.833L7.084 4.126H5.117z"/></svg></div></div>
<script id="boot" type="application/json">{boot}</script>
<script src="/static/app.js"></script>
</body></html>
"""
