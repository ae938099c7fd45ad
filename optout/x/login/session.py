"""The stored session: X's cookies in the keyring, put back into a fresh context, checked alive on the
home page (or, for the runner, on the settings pages themselves: `use_saved_session`, `prove_on_page`),
renewed by a login only when X no longer accepts them (`ensure_session`). A failed login
leaves a screenshot with every secret input blacked out."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from pydantic import SecretStr

from optout.config import Settings
from optout.credentials import CredentialStore, SessionCookies, normalize_handle
from optout.errors import AccountFailure, NeedsHuman, SessionLost, UiChanged, first_line
from optout.prompts import Prompter
from optout.redact import shown_url
from optout.site import ensure_on_site
from optout.x import screens as S
from optout.x.login.handlers import log_in, usable
from optout.x.login.refusals import interactive_hint
from optout.x.login.screen import POLL_S, Attempt, on_login_page, path_of, read_screen
from optout.x.responses import XResponses
from optout.x.screens import LoginScreen


def _host_only(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return host == "localhost" or "." not in host


def session_cookie_params(session: SessionCookies, settings: Settings) -> list[dict]:
    """The stored cookies as the browser wants them, for the host of settings.base_url (on x.com they
    cover the subdomains, as X's own do)."""
    parts = urlsplit(settings.base_url)
    secure = parts.scheme == "https"
    where = ({"url": settings.base_url} if _host_only(parts.hostname or "")
             else {"domain": "." + parts.hostname, "path": "/", "secure": True})
    extra = {"expires": int(session.expires)} if session.expires else {}
    values = {"auth_token": session.auth_token.get_secret_value(), "ct0": session.ct0.get_secret_value(),
              "twid": session.twid}
    return [
        {"name": name, "value": value, **where, **extra, "httpOnly": name == "auth_token",
         "sameSite": "None" if secure else "Lax"}
        for name, value in values.items() if value
    ]


async def read_session(context: BrowserContext, settings: Settings) -> SessionCookies | None:
    jar = {c["name"]: c for c in await context.cookies(settings.base_url)}
    if "auth_token" not in jar or "ct0" not in jar:
        return None
    expiries = [jar[n]["expires"] for n in ("auth_token", "ct0") if jar[n].get("expires", -1) > 0]
    return SessionCookies(
        auth_token=SecretStr(jar["auth_token"]["value"]),
        ct0=SecretStr(jar["ct0"]["value"]),
        twid=jar["twid"]["value"] if "twid" in jar else None,
        expires=min(expiries) if expiries else None,
        saved_at=time.time(),
    )


def same_account(profile_href: str | None, handle: str) -> bool:
    """The home page's profile link names the logged-in account; no link means nothing to contradict."""
    return not profile_href or profile_href.strip("/").split("/")[0].lower() == handle


async def _profile_href(page: Page) -> str | None:
    """Where the side nav's profile link points now (None: no link drawn)."""
    profile = page.locator(S.PROFILE_LINK).first
    try:
        return await profile.get_attribute("href", timeout=1_000) if await profile.count() else None
    except PlaywrightError:
        return None


async def session_alive(a: Attempt) -> bool:
    """Open the home page: the logged-in markers mean alive; any login page means not."""
    await a.page.goto(a.settings.url(S.HOME_PATH))
    deadline = time.monotonic() + a.settings.timeout_ms / 1000
    while time.monotonic() < deadline:
        seen = await read_screen(a)
        if seen.screen is LoginScreen.LOGGED_IN and not on_login_page(seen.url):
            if await usable(a.page, S.LOGGED_IN_MARKERS) is not None:
                # read now, not from the probe: it may have run while the home page was still drawing
                return same_account(await _profile_href(a.page) or seen.profile_href, a.handle)
        elif on_login_page(seen.url) or path_of(seen.url) == "/" or seen.screen is not LoginScreen.LOADING:
            return False
        await asyncio.sleep(POLL_S)
    return False


async def settle_home(a: Attempt) -> None:
    """After the login, let X finish landing (on its home page, or the page `a.after` asked for: the side nav
    is drawn on both), since it may still set cookies; never fail on it."""
    try:
        await a.page.locator(S.LOGGED_IN_MARKERS).first.wait_for(state="visible", timeout=a.settings.timeout_ms)
    except PlaywrightError:
        pass


async def store_session(a: Attempt, store: CredentialStore) -> None:
    session = await read_session(a.context, a.settings)
    if session is None:
        # Maintained X clients see this when X blocks the address the login came from (x-facts, 2026).
        raise NeedsHuman(f"X accepted the login of @{a.handle} but set no session (no auth_token or ct0 cookie); "
                         "X does this when it distrusts the network address the login came from.",
                         url=a.page.url, hint="Try from another network, or: " + interactive_hint(a.handle))
    store.save_session(a.handle, session)


async def use_saved_session(context: BrowserContext, handle: str, store: CredentialStore,
                            settings: Settings) -> SessionCookies | None:
    """Put the stored session's cookies into the context without loading any page, and return them (None:
    no live session stored). Unproven until a page shows it: the runner's settings pages do that
    (`prove_on_page`, then `keep_rotated`), so a saved session costs no home page load; a login page or
    another account there sends the run through `ensure_session`, which checks it on the home page."""
    stored = store.load_session(handle)
    if stored is None:
        return None
    ensure_on_site(settings.base_url, stored.site, "the session cookies")
    await context.add_cookies(session_cookie_params(stored, settings))
    return stored


async def prove_on_page(page: Page, handle: str, *, unproven: bool) -> None:
    """Raise SessionLost unless `page` shows X logged in as `handle`. X draws its side nav on every
    logged-in page, settings pages included, in the same frame as the page, and its profile link names
    the account (`same_account`, as on the home page). `unproven`: the session was not yet shown alive
    anywhere, so a page without the logged-in markers does not count as logged in either."""
    href = await _profile_href(page)
    try:
        logged_in = href is not None or await page.locator(S.LOGGED_IN_MARKERS).count() > 0
    except PlaywrightError:
        logged_in = False
    if not same_account(href, handle):
        raise SessionLost(f"The session in the browser belongs to another account than @{handle}.",
                          hint="optout logs in afresh.", url=page.url)
    if unproven and not logged_in:
        raise SessionLost(f"The saved X session of @{handle} did not show a logged-in page.",
                          hint="optout logs in afresh.", url=page.url)


async def keep_rotated(context: BrowserContext, handle: str, store: CredentialStore, settings: Settings,
                       stored: SessionCookies) -> None:
    """X may rotate a cookie on any logged-in page load; keep the live one in the keyring."""
    current = await read_session(context, settings)
    if current and (current.ct0.get_secret_value() != stored.ct0.get_secret_value()
                    or current.auth_token.get_secret_value() != stored.auth_token.get_secret_value()):
        store.save_session(handle, current)


async def _reuse_session(a: Attempt, store: CredentialStore) -> bool:
    stored = await use_saved_session(a.context, a.handle, store, a.settings)
    if stored is None:
        return False
    if not await session_alive(a):
        await a.context.clear_cookies()
        return False
    await keep_rotated(a.context, a.handle, store, a.settings, stored)
    return True


def _shot_path(settings: Settings, handle: str, shots_dir: Path | None, outcome: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return (shots_dir or settings.data_dir / "login-screens" / handle) / f"login-{outcome}-{stamp}.png"


async def failure_screenshot(page: Page, path: Path) -> Path | None:
    """The screen where the login stopped, every input that may hold a secret blacked out."""
    from optout.files import make_private_dir, write_private

    try:
        image = await page.screenshot(mask=[page.locator(S.LOGIN_SECRET_INPUTS)], animations="disabled")
    except PlaywrightError:
        return None
    make_private_dir(path.parent)
    return write_private(path, image)


def _scrub(text: str, a: Attempt) -> str:
    """Playwright's messages name calls, not typed values; this makes sure of it."""
    secrets = [a.creds.password, a.creds.totp_secret] if a.creds else []
    for secret in filter(None, secrets):
        text = text.replace(secret.get_secret_value(), "**********")
    return text


async def with_screenshot(a: Attempt, shots_dir: Path | None, work: Awaitable):
    try:
        return await work
    except AccountFailure as failure:
        shot = await failure_screenshot(a.page, _shot_path(a.settings, a.handle, shots_dir, failure.outcome))
        failure.url = failure.url or a.page.url
        failure.screenshot = str(shot) if shot else None
        if shot:
            failure.hint = f"{failure.hint or ''} Screenshot: {shot}".strip()
        raise
    except PlaywrightError as exc:  # a page that never answered, or a browser that went away
        first = _scrub(first_line(exc), a)
        shot = await failure_screenshot(a.page, _shot_path(a.settings, a.handle, shots_dir, "ui_changed"))
        failure = UiChanged(f"The X login page did not behave as expected: {first}", url=a.page.url,
                            hint=f"Screenshot: {shot}" if shot else None)
        failure.screenshot = str(shot) if shot else None
        raise failure from None


async def ensure_session(
    context: BrowserContext,
    page: Page,
    handle: str,
    store: CredentialStore,
    settings: Settings,
    *,
    responses: XResponses,
    prompter: Prompter | None = None,
    shots_dir: Path | None = None,
    after: str | None = None,
) -> bool:
    """Make `page` logged in as `handle`: reuse the stored session when X still accepts it, else log in
    with the stored credentials and store the new session. True when a fresh login happened.
    Raises LoginFailed, NeedsHuman, UiChanged or RateLimited (with a masked screenshot in shots_dir),
    or UnknownAccount when a login is needed and no password is stored. Never logs out of X.
    `responses` is the page's watcher of X's answers (the onboarding API's subtasks and errors). `after`: the
    path a fresh login asks X to land on (the runner's first settings page) instead of its home page."""
    a = Attempt(context=context, page=page, handle=normalize_handle(handle), settings=settings, prompter=prompter,
                responses=responses, after=after)

    async def work() -> bool:
        if await _reuse_session(a, store):
            return False
        if not store.has(a.handle) and store.load_session(a.handle, include_expired=True) is not None:
            raise NeedsHuman(
                f"The stored X session of @{a.handle} has ended, and no password is stored to log in again.",
                hint=f"Renew it from your own browser: `optout session import {a.handle} --from-browser chrome` "
                     f"(or chromium, brave, edge, firefox, safari), or `optout login {a.handle} --interactive`.",
                url=a.page.url)
        a.creds = store.get(a.handle)
        await context.clear_cookies()  # a dead session's cookies must not ride along into the login
        await log_in(a)
        await settle_home(a)
        await store_session(a, store)
        return True

    return await with_screenshot(a, shots_dir, work())


async def ensure_browser_session(page: Page, handle: str, settings: Settings, responses: XResponses | None) -> None:
    """`--use-browser-session`: the user's own browser is already logged in as the account, or nothing
    happens: optout neither sets cookies in the user's browser nor types a password into it."""
    a = Attempt(context=page.context, page=page, handle=handle, settings=settings, prompter=None, responses=responses)
    if not await session_alive(a):
        raise NeedsHuman(f"The browser at {shown_url(settings.browser_endpoint)} is not logged in to X as @{handle}.",
                         hint=f"Log in as @{handle} in that browser, then run again.", url=page.url)
