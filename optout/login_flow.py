"""What `optout login` does: make sure a live session is stored for an account, by reusing it or logging
in unattended (optout.x.login), or, with --interactive, by letting a person log in in a visible browser
with the account name already typed."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel

from optout.config import Settings
from optout.credentials import CredentialStore, normalize_handle
from optout.errors import LoginFailed, NeedsHuman, UiChanged
from optout.prompts import Prompter
from optout.x import screens as S
from optout.x.login import Attempt, ensure_session, field_of, read_screen, same_account, settle_home, store_session, wait_screen, with_screenshot
from optout.x.pacing import type_into
from optout.x.responses import XResponses
from optout.x.screens import LoginScreen


class LoginReport(BaseModel):
    handle: str
    fresh_login: bool  # False: the stored session was alive and reused
    interactive: bool = False
    session_stored: bool = True


async def wait_for_person(a: Attempt, wait_s: float) -> None:
    """Until the person at the visible browser has logged in (auth_token set, or the home page drawn)."""
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if a.page.is_closed():
            raise NeedsHuman("The browser window was closed before the login finished.",
                             hint=f"Run `optout login {a.handle} --interactive` again.")
        try:
            if (await read_screen(a)).screen is LoginScreen.LOGGED_IN:
                return
        except PlaywrightError:
            pass  # the person is navigating; look again
        await asyncio.sleep(0.5)
    raise NeedsHuman(f"Nobody finished the login of @{a.handle} within {int(wait_s)} s.",
                     hint=f"Run `optout login {a.handle} --interactive` again.")


async def interactive_login(context: BrowserContext, page: Page, handle: str, store: CredentialStore,
                            settings: Settings, *, prompter: Prompter | None, wait_s: float) -> None:
    """Open X's login page with the account name filled in; the person does the rest (captcha, email code,
    passkey...). When the login lands, check it is the right account and store the session."""
    a = Attempt(context=context, page=page, handle=normalize_handle(handle), settings=settings, prompter=prompter)
    await page.goto(settings.url(S.LOGIN_PATH))
    try:
        if (await wait_screen(a, None, 0)).screen is LoginScreen.IDENTIFIER:
            await type_into(await field_of(a, S.IDENTIFIER_INPUT), a.handle, settings)
    except (UiChanged, PlaywrightError):
        pass  # a screen optout does not know (the person can still log in), or a closed window (told below)
    if prompter and not page.is_closed():
        prompter.tell(f"Finish logging in to @{a.handle} in the browser window; waiting up to {int(wait_s)} s.")
    await wait_for_person(a, wait_s)
    await settle_home(a)
    seen = await read_screen(a)
    if not same_account(seen.profile_href, a.handle):
        raise LoginFailed(f"The browser logged in as {seen.profile_href.strip('/')!r}, not @{a.handle}; nothing was stored.",
                          hint=f"Run `optout login {a.handle} --interactive` again and log in as @{a.handle}.")
    await store_session(a, store)


async def login_account(settings: Settings, handle: str, *, store: CredentialStore, prompter: Prompter | None,
                        interactive: bool = False, wait_s: float = 600) -> LoginReport:
    """`optout login`: ensure a stored, live session; with `interactive`, a person logs in in a visible browser."""
    from optout.browser import open_browser

    key = normalize_handle(handle)
    store.check()
    if interactive:
        settings = settings.model_copy(update={"headless": False})
    async with open_browser(settings) as browser:
        context = await browser.new_context()
        page = await context.new_page()
        responses = XResponses(page)
        try:
            if interactive:
                a = Attempt(context=context, page=page, handle=key, settings=settings, prompter=prompter)
                await with_screenshot(a, None, interactive_login(context, page, key, store, settings,
                                                                  prompter=prompter, wait_s=wait_s))
                return LoginReport(handle=key, fresh_login=True, interactive=True)
            fresh = await ensure_session(context, page, key, store, settings, responses=responses, prompter=prompter)
            return LoginReport(handle=key, fresh_login=fresh)
        finally:
            await context.close()
