"""Reading the login page: one JS probe (URL, roles, input attributes, data-testids) plus the last
subtask id X's onboarding API answered, classified by `screens.classify_login`; and waiting until the
page shows a screen other than the one just answered, or the refusal X answered with."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from optout.config import Settings
from optout.credentials import Credentials
from optout.errors import UiChanged
from optout.prompts import Prompter
from optout.x import screens as S
from optout.x.login.refusals import interactive_hint, refusal
from optout.x.responses import XResponses
from optout.x.screens import LoginScreen

POLL_S = 0.1
ALERT_GRACE_S = 0.6  # an error toast usually follows the API's error answer; wait for the code
LOGIN_NAVIGATION_GRACE_MS = 2_000  # how long a page X's script sends to its login screen may take to get there


@dataclass
class Seen:
    """One reading of the page."""

    screen: LoginScreen
    url: str
    alert: str | None = None
    profile_href: str | None = None

    @property
    def signature(self) -> tuple[LoginScreen, str]:
        return self.screen, self.url


@dataclass
class Attempt:
    """One login: everything the handlers need, and what has already been answered."""

    context: BrowserContext
    page: Page
    handle: str
    settings: Settings
    prompter: Prompter | None
    creds: Credentials | None = None
    responses: XResponses | None = None  # X's answers on the page; None: the screen alone
    answered: Counter = field(default_factory=Counter)
    password_sent: bool = False
    after: str | None = None  # the path X is asked to land on after the login (its redirect_after_login)


def path_of(url: str) -> str:
    return urlsplit(url).path


def on_login_page(url: str) -> bool:
    return any(path_of(url).startswith(p) for p in S.LOGIN_PATHS)


async def bound_for_login_page(page: Page) -> bool:
    """The page is on X's login screen, or on its way there. X's own script sends a page whose API reads
    answer 401 (the session ended) to the login screen; a load optout began in that page meanwhile can fail
    (net::ERR_ABORTED, seen once under load) a moment before the page's URL shows the login screen."""
    try:
        await page.wait_for_url(on_login_page, wait_until="commit", timeout=LOGIN_NAVIGATION_GRACE_MS)
    except PlaywrightError:
        return on_login_page(page.url)
    return True


async def _has_auth_cookie(context: BrowserContext, settings: Settings) -> bool:
    return any(c["name"] == "auth_token" for c in await context.cookies(settings.base_url))


async def read_screen(a: Attempt) -> Seen:
    try:
        probe = await a.page.evaluate(S.LOGIN_PROBE_JS, S.LOGIN_PROBE_SELECTORS)
    except PlaywrightError:
        if a.page.is_closed():  # the window is gone: nothing to wait for
            raise
        return Seen(LoginScreen.LOADING, a.page.url)  # mid-navigation: the document is being replaced
    subtask = a.responses.subtask if a.responses else None
    screen = S.classify_login(probe, path_of(a.page.url), subtask)
    if screen is LoginScreen.LOADING and not on_login_page(a.page.url) and await _has_auth_cookie(a.context, a.settings):
        screen = LoginScreen.LOGGED_IN  # logged in; the home page is still drawing
    return Seen(screen, a.page.url, probe.get("alert"), probe.get("profile_href"))


async def wait_screen(a: Attempt, previous: Seen | None, mark: int) -> Seen:
    """The next recognisable screen after `previous` was answered, or the refusal X answered with."""
    deadline = time.monotonic() + a.settings.timeout_ms / 1000
    alert_since: float | None = None
    seen = Seen(LoginScreen.LOADING, a.page.url)
    while time.monotonic() < deadline:
        errors = a.responses.errors_since(mark) if a.responses else []
        refusals = [e for e in errors if e.refuses_answer]
        if refusals and previous is not None:
            raise refusal(a.handle, a.page.url, previous.screen, refusals[-1], seen.alert)
        seen = await read_screen(a)
        if seen.screen is not LoginScreen.LOADING and (previous is None or seen.signature != previous.signature):
            return seen
        if previous is not None and seen.alert and seen.alert != previous.alert:
            alert_since = alert_since or time.monotonic()
            if time.monotonic() - alert_since > ALERT_GRACE_S:  # X's page says more than optout saw it answer
                raise refusal(a.handle, a.page.url, previous.screen, errors[-1] if errors else None, seen.alert)
        await asyncio.sleep(POLL_S)
    if previous is None or seen.screen is LoginScreen.LOADING:
        raise UiChanged(f"The X login page at {a.page.url} shows a screen optout does not recognise.",
                        hint="X may have changed its login pages; see the screenshot. " + interactive_hint(a.handle),
                        url=a.page.url)
    raise UiChanged(f"The X login screen ({previous.screen}) did not move on within {a.settings.timeout_ms} ms.",
                    hint="X may have changed its login pages; see the screenshot. " + interactive_hint(a.handle),
                    url=a.page.url)
