"""Logging in to X as a careful human would, and rarely: reuse the stored session when it is alive.

The login is a state machine. `_wait_screen` reads the page (one JS probe: URL, roles, input
attributes, data-testids; plus the last subtask id from X's onboarding API) until it shows a screen
other than the one just answered; a small handler answers that screen; repeat until logged in. A
refusal stops at once with a typed error; nothing is ever retried that could lock the account (above
all the password). Every wait is bounded by settings.timeout_ms, and an unrecognised screen stops with
UiChanged and a screenshot whose password and code fields are blacked out.

The same code runs against x.com and the replica; only settings.base_url differs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page, Response
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, SecretStr

from optout.config import Settings
from optout.credentials import Credentials, CredentialStore, SessionCookies, normalize_handle
from optout.errors import AccountFailure, LoginFailed, NeedsHuman, RateLimited, UiChanged
from optout.otp import ServiceTOTP
from optout.prompts import Prompter
from optout.site import ensure_field_on_site, ensure_on_site
from optout.x import screens as S
from optout.x.pacing import pause, type_into
from optout.x.screens import LoginScreen

POLL_S = 0.1
MAX_STEPS = 12  # a login has at most ~7 screens; more means it is going round in circles
MAX_IDENTIFIER_SCREENS = 2  # X may bounce a legacy login to the 2026 flow, which asks again
ALERT_GRACE_S = 0.6  # an error toast usually follows the API's error answer; wait for the code
SUBMIT_WAIT_S = 0.5  # how long a step's button may take to become usable after typing
TOTP_MIN_REMAINING_S = 3  # don't type a code that expires before X checks it
INTERACTIVE_HINT = "Log in once yourself with `optout login {h} --interactive`, or paste cookies with `optout session import {h}`."


# ---- X's onboarding API, the second signal beside the DOM ----


@dataclass
class ApiError:
    code: int | None
    status: int
    message: str | None = None
    reset_at: float | None = None


class OnboardingWatcher:
    """Listens to X's onboarding API answers: the next subtask id, and error codes with their message."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.subtask: str | None = None
        self.errors: list[ApiError] = []
        page.on("response", self._on_response)

    def detach(self) -> None:
        self.page.remove_listener("response", self._on_response)

    def mark(self) -> int:
        return len(self.errors)

    def errors_since(self, mark: int) -> list[ApiError]:
        return self.errors[mark:]

    async def _on_response(self, response: Response) -> None:
        if S.ONBOARDING_URL_PART not in response.url or response.request.method != "POST":
            return
        try:
            body = await response.json()
        except Exception:  # not JSON, or the page navigated away: nothing to learn
            body = {}
        body = body if isinstance(body, dict) else {}
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        if errors or response.status >= 400:
            first = errors[0] if errors else {}
            code = first.get("code") if isinstance(first.get("code"), int) else None
            if response.status == 429:
                code = code or S.CODE_RATE_LIMIT
            reset = response.headers.get("x-rate-limit-reset")
            self.errors.append(ApiError(code, response.status, first.get("message"),
                                        float(reset) if reset and reset.isdigit() else None))
        subtasks = body.get("subtasks")
        if subtasks and isinstance(subtasks[0], dict):
            self.subtask = subtasks[0].get("subtask_id")


# ---- reading the page ----


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
    watcher: OnboardingWatcher | None = None
    answered: Counter = field(default_factory=Counter)
    password_sent: bool = False


def _path(url: str) -> str:
    return urlsplit(url).path


def _on_login_page(url: str) -> bool:
    return any(_path(url).startswith(p) for p in S.LOGIN_PATHS)


async def _has_auth_cookie(context: BrowserContext, settings: Settings) -> bool:
    return any(c["name"] == "auth_token" for c in await context.cookies(settings.base_url))


async def read_screen(a: Attempt) -> Seen:
    try:
        probe = await a.page.evaluate(S.LOGIN_PROBE_JS, S.LOGIN_PROBE_SELECTORS)
    except PlaywrightError:  # mid-navigation: the document is being replaced
        return Seen(LoginScreen.LOADING, a.page.url)
    subtask = a.watcher.subtask if a.watcher else None
    screen = S.classify_login(probe, _path(a.page.url), subtask)
    if screen is LoginScreen.LOADING and not _on_login_page(a.page.url) and await _has_auth_cookie(a.context, a.settings):
        screen = LoginScreen.LOGGED_IN  # logged in; the home page is still drawing
    return Seen(screen, a.page.url, probe.get("alert"), probe.get("profile_href"))


async def _wait_screen(a: Attempt, previous: Seen | None, mark: int) -> Seen:
    """The next recognisable screen after `previous` was answered, or the refusal X answered with."""
    deadline = time.monotonic() + a.settings.timeout_ms / 1000
    alert_since: float | None = None
    seen = Seen(LoginScreen.LOADING, a.page.url)
    while time.monotonic() < deadline:
        errors = a.watcher.errors_since(mark) if a.watcher else []
        if errors and previous is not None:
            raise _refusal(a, previous.screen, errors[-1], seen.alert)
        seen = await read_screen(a)
        if seen.screen is not LoginScreen.LOADING and (previous is None or seen.signature != previous.signature):
            return seen
        if previous is not None and seen.alert and seen.alert != previous.alert:
            alert_since = alert_since or time.monotonic()
            if time.monotonic() - alert_since > ALERT_GRACE_S:
                raise _refusal(a, previous.screen, None, seen.alert)
        await asyncio.sleep(POLL_S)
    if previous is None or seen.screen is LoginScreen.LOADING:
        raise UiChanged(f"The X login page at {a.page.url} shows a screen optout does not recognise.",
                        hint="X may have changed its login pages; see the screenshot. " + _interactive_hint(a),
                        url=a.page.url)
    raise UiChanged(f"The X login screen ({previous.screen}) did not move on within {a.settings.timeout_ms} ms.",
                    hint="X may have changed its login pages; see the screenshot. " + _interactive_hint(a),
                    url=a.page.url)


def _interactive_hint(a: Attempt) -> str:
    return INTERACTIVE_HINT.format(h=a.handle)


def _said(message: str | None) -> str:
    return f" X said: {message!r}." if message else ""


def _refusal(a: Attempt, step: LoginScreen, error: ApiError | None, alert: str | None) -> AccountFailure:
    """What an error answer (or an error toast) on `step` means for the account."""
    said = _said((error.message if error else None) or alert)
    code = error.code if error else None
    url = a.page.url
    if code == S.CODE_RATE_LIMIT or (error and error.status == 429):
        return RateLimited(f"X is rate-limiting logins right now.{said}", reset_at=error.reset_at,
                           hint="Wait until the limit resets, then run again.", url=url)
    if code == S.CODE_LIMITED:
        # A login lock-out, not an API rate limit: it has no reset time, and retrying a password into it
        # prolongs it. A person decides when to try again.
        return NeedsHuman(f"X has temporarily limited logins to @{a.handle}.{said}",
                          hint="Wait some hours before trying again. " + _interactive_hint(a), url=url)
    if step is LoginScreen.IDENTIFIER:
        return LoginFailed(f"X did not accept the account name @{a.handle}.{said}",
                           hint="Check the handle. If it is right, X may be refusing automated logins: "
                           + _interactive_hint(a), url=url)
    if step is LoginScreen.PASSWORD:
        return LoginFailed(f"X refused the password stored for @{a.handle}; it was tried once and not again.{said}",
                           hint=f"Store the right one with `optout accounts add {a.handle}`.", url=url)
    if step is LoginScreen.ALTERNATE_IDENTIFIER:
        return LoginFailed(f"X did not accept the phone, email or username given for @{a.handle}.{said}",
                           hint=f"Store the right one with `optout accounts add {a.handle} --phone/--email`.", url=url)
    if step is LoginScreen.TWO_FACTOR:
        return LoginFailed(f"X did not accept the two-factor code for @{a.handle}.{said}",
                           hint="Check the stored TOTP secret and this computer's clock.", url=url)
    if step in (LoginScreen.EMAIL_CODE, LoginScreen.EMAIL_ADDRESS):
        return NeedsHuman(f"X did not accept the email confirmation for @{a.handle}.{said}",
                          hint=_interactive_hint(a), url=url)
    return LoginFailed(f"X refused the login of @{a.handle} at the {step} step.{said}", hint=_interactive_hint(a), url=url)


# ---- acting on the page ----


async def _usable(page: Page, selector: str):
    """The first copy of `selector` a person could use (X renders some forms twice), or None."""
    indexes = await page.evaluate(S.USABLE_INDEXES_JS, selector)
    return page.locator(selector).nth(indexes[0]) if indexes else None


async def _field(a: Attempt, selector: str):
    found = await _usable(a.page, selector)
    if found is None:
        raise UiChanged(f"The input for this login step vanished at {a.page.url}.", url=a.page.url,
                        hint="X may have changed its login pages; see the screenshot. " + _interactive_hint(a))
    return found


async def _submit(a: Attempt, field, buttons: str) -> None:
    """Click the step's own button once it is usable (X enables some only after typing), else press Enter.
    Only a field inside a form can have a button that turns into its submit button, so only then wait."""
    in_form = await field.evaluate("el => !!el.closest('form')")
    deadline = time.monotonic() + (min(SUBMIT_WAIT_S, a.settings.timeout_ms / 1000) if in_form else 0)
    while True:
        button = await _usable(a.page, buttons)
        if button is not None and await button.is_enabled():
            await button.click()
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    await field.press("Enter")


async def _answer_text(a: Attempt, selector: str, buttons: str, text: str) -> None:
    await pause(a.settings)
    field = await _field(a, selector)
    await ensure_field_on_site(field, a.creds.site if a.creds else a.settings.base_url, "an answer")
    await type_into(field, text, a.settings)
    await pause(a.settings)
    await _submit(a, field, buttons)


async def _type_code(a: Attempt, code: str) -> None:
    """A code goes into X's one text input, or one digit per box in the 2026 flow (which submits itself)."""
    indexes = await a.page.evaluate(S.USABLE_INDEXES_JS, S.CODE_BOXES)
    if len(indexes) >= len(code):
        await pause(a.settings)
        boxes = a.page.locator(S.CODE_BOXES)
        await ensure_field_on_site(boxes.nth(indexes[0]), a.creds.site if a.creds else a.settings.base_url, "the code")
        for index, digit in zip(indexes, code):
            await type_into(boxes.nth(index), digit, a.settings)
        return
    await _answer_text(a, S.OCF_INPUT, S.OCF_NEXT, code)


async def _ask(a: Attempt, question: str, *, secret: bool) -> str | None:
    if a.prompter is None:
        return None
    return await asyncio.to_thread(a.prompter.ask, question, secret)


# ---- one handler per screen ----


async def on_identifier(a: Attempt, seen: Seen) -> None:
    a.answered[LoginScreen.IDENTIFIER] += 1
    if a.answered[LoginScreen.IDENTIFIER] > MAX_IDENTIFIER_SCREENS:
        raise UiChanged("X keeps asking for the account name.", url=seen.url, hint=_interactive_hint(a))
    await _answer_text(a, S.IDENTIFIER_INPUT, S.SUBMIT_BUTTONS, a.handle)


async def on_alternate_identifier(a: Attempt, seen: Seen) -> None:
    """X noticed unusual activity and asks for the phone number, email or username."""
    answers = a.creds.recovery_answers if a.creds else []
    answer = answers[0] if answers else await _ask(
        a, f"X asks for the phone number or email address of @{a.handle}", secret=False)
    if not answer:
        raise NeedsHuman(f"X asks for the phone number or email of @{a.handle} (unusual activity), and none is stored.",
                         hint=f"Store one with `optout accounts add {a.handle} --phone ... / --email ...`, "
                         "or run with a terminal to answer.", url=seen.url)
    await _answer_text(a, S.OCF_INPUT, S.OCF_NEXT, answer)


async def on_password(a: Attempt, seen: Seen) -> None:
    if a.password_sent:  # X showed the password screen again: the password was refused
        raise LoginFailed(f"X refused the password stored for @{a.handle}; it was tried once and not again.",
                          hint=f"Store the right one with `optout accounts add {a.handle}`.", url=seen.url)
    await pause(a.settings)
    field = await _field(a, S.PASSWORD_INPUT)
    await ensure_field_on_site(field, a.creds.site, "the password")
    await type_into(field, a.creds.password.get_secret_value(), a.settings)
    await pause(a.settings)
    a.password_sent = True
    await _submit(a, field, S.PASSWORD_BUTTONS)


async def _totp_code(secret: SecretStr) -> str:
    totp = ServiceTOTP(secret.get_secret_value())
    remaining = totp.interval - time.time() % totp.interval
    if remaining < TOTP_MIN_REMAINING_S:
        await asyncio.sleep(remaining + 0.2)
    return totp.now()


async def on_two_factor(a: Attempt, seen: Seen) -> None:
    a.answered[LoginScreen.TWO_FACTOR] += 1
    if a.answered[LoginScreen.TWO_FACTOR] > 1:
        raise LoginFailed(f"X asked for the two-factor code of @{a.handle} again.", url=seen.url,
                          hint="Check the stored TOTP secret and this computer's clock.")
    if a.creds and a.creds.totp_secret:
        code = await _totp_code(a.creds.totp_secret)
    else:
        code = await _ask(a, f"Two-factor code for @{a.handle} (from your authenticator app)", secret=True)
    if not code:
        raise NeedsHuman(f"X asks for a two-factor code for @{a.handle}, and no TOTP secret is stored.",
                         hint=f"Store it with `optout accounts add {a.handle}`, or run in a terminal to type a code.",
                         url=seen.url)
    await _type_code(a, code.replace(" ", ""))


async def on_email_code(a: Attempt, seen: Seen) -> None:
    a.answered[LoginScreen.EMAIL_CODE] += 1
    code = None
    if a.answered[LoginScreen.EMAIL_CODE] == 1:
        code = await _ask(a, f"X emailed a confirmation code for @{a.handle}; type it here", secret=True)
    if not code:
        raise NeedsHuman(f"X sent a confirmation code to the email address of @{a.handle}; nobody is here to type it.",
                         hint=_interactive_hint(a), url=seen.url)
    await _type_code(a, code.replace(" ", ""))


async def on_email_address(a: Attempt, seen: Seen) -> None:
    a.answered[LoginScreen.EMAIL_ADDRESS] += 1
    email = a.creds.email if a.creds and a.answered[LoginScreen.EMAIL_ADDRESS] == 1 else None
    if not email:
        raise NeedsHuman(f"X asks to confirm the email address of @{a.handle}, and none is stored.",
                         hint=f"Store it with `optout accounts add {a.handle} --email ...`.", url=seen.url)
    await _answer_text(a, S.OCF_INPUT, S.OCF_NEXT, email)


async def on_denied(a: Attempt, seen: Seen) -> None:
    raise NeedsHuman(f"X prevented a suspicious login to @{a.handle}.", url=seen.url,
                     hint="Confirm it was you in the email X sent, then " + _interactive_hint(a)[0].lower()
                     + _interactive_hint(a)[1:])


async def on_captcha(a: Attempt, seen: Seen) -> None:
    raise NeedsHuman(f"X shows a captcha for @{a.handle}; only a person can solve it.", url=seen.url,
                     hint=_interactive_hint(a))


HANDLERS: dict[LoginScreen, Callable[[Attempt, Seen], Awaitable[None]]] = {
    LoginScreen.IDENTIFIER: on_identifier,
    LoginScreen.ALTERNATE_IDENTIFIER: on_alternate_identifier,
    LoginScreen.PASSWORD: on_password,
    LoginScreen.TWO_FACTOR: on_two_factor,
    LoginScreen.EMAIL_CODE: on_email_code,
    LoginScreen.EMAIL_ADDRESS: on_email_address,
    LoginScreen.DENIED: on_denied,
    LoginScreen.CAPTCHA: on_captcha,
}


async def log_in(a: Attempt) -> None:
    """Run the state machine from X's login page until logged in; raises on any refusal."""
    a.watcher = OnboardingWatcher(a.page)
    try:
        await a.page.goto(a.settings.url(S.LOGIN_PATH))
        seen = await _wait_screen(a, None, a.watcher.mark())
        for _ in range(MAX_STEPS):
            if seen.screen is LoginScreen.LOGGED_IN:
                return
            mark = a.watcher.mark()
            await HANDLERS[seen.screen](a, seen)
            seen = await _wait_screen(a, seen, mark)
        raise UiChanged(f"The login of @{a.handle} went round in circles.", url=a.page.url, hint=_interactive_hint(a))
    finally:
        a.watcher.detach()


# ---- sessions ----


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


def _same_account(profile_href: str | None, handle: str) -> bool:
    """The home page's profile link names the logged-in account; no link means nothing to contradict."""
    return not profile_href or profile_href.strip("/").split("/")[0].lower() == handle


async def session_alive(a: Attempt) -> bool:
    """Open the home page: the logged-in markers mean alive; any login page means not."""
    await a.page.goto(a.settings.url(S.HOME_PATH))
    deadline = time.monotonic() + a.settings.timeout_ms / 1000
    while time.monotonic() < deadline:
        seen = await read_screen(a)
        if seen.screen is LoginScreen.LOGGED_IN and not _on_login_page(seen.url):
            if await _usable(a.page, S.LOGGED_IN_MARKERS) is not None:
                return _same_account(seen.profile_href, a.handle)
        elif _on_login_page(seen.url) or _path(seen.url) == "/" or seen.screen is not LoginScreen.LOADING:
            return False
        await asyncio.sleep(POLL_S)
    return False


async def _settle_home(a: Attempt) -> None:
    """After the login, let X finish landing on the home page (it may still set cookies); never fail on it."""
    try:
        await a.page.locator(S.LOGGED_IN_MARKERS).first.wait_for(state="visible", timeout=a.settings.timeout_ms)
    except PlaywrightError:
        pass


async def _store_session(a: Attempt, store: CredentialStore) -> None:
    session = await read_session(a.context, a.settings)
    if session is None:
        raise UiChanged(f"X logged @{a.handle} in but set no session cookies optout knows (auth_token, ct0).",
                        url=a.page.url, hint=_interactive_hint(a))
    store.save_session(a.handle, session)


async def _reuse_session(a: Attempt, store: CredentialStore) -> bool:
    stored = store.load_session(a.handle)
    if stored is None:
        return False
    ensure_on_site(a.settings.base_url, stored.site, "the session cookies")
    await a.context.add_cookies(session_cookie_params(stored, a.settings))
    if not await session_alive(a):
        await a.context.clear_cookies()
        return False
    current = await read_session(a.context, a.settings)
    if current and (current.ct0.get_secret_value() != stored.ct0.get_secret_value()
                    or current.auth_token.get_secret_value() != stored.auth_token.get_secret_value()):
        store.save_session(a.handle, current)  # X rotated a cookie; keep the live one
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


async def _with_screenshot(a: Attempt, shots_dir: Path | None, work: Awaitable):
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
        first = _scrub((str(exc).strip().splitlines() or [type(exc).__name__])[0], a)
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
    prompter: Prompter | None = None,
    shots_dir: Path | None = None,
) -> bool:
    """Make `page` logged in as `handle`: reuse the stored session when X still accepts it, else log in
    with the stored credentials and store the new session. True when a fresh login happened.
    Raises LoginFailed, NeedsHuman, UiChanged or RateLimited (with a masked screenshot in shots_dir),
    or UnknownAccount when a login is needed and no password is stored. Never logs out of X."""
    a = Attempt(context=context, page=page, handle=normalize_handle(handle), settings=settings, prompter=prompter)

    async def work() -> bool:
        if await _reuse_session(a, store):
            return False
        a.creds = store.get(a.handle)
        await context.clear_cookies()  # a dead session's cookies must not ride along into the login
        await log_in(a)
        await _settle_home(a)
        await _store_session(a, store)
        return True

    return await _with_screenshot(a, shots_dir, work())


# ---- `optout login` ----


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
        if (await _wait_screen(a, None, 0)).screen is LoginScreen.IDENTIFIER:
            await type_into(await _field(a, S.IDENTIFIER_INPUT), a.handle, settings)
    except UiChanged:
        pass  # a screen optout does not know: the person can still read it and log in
    if prompter:
        prompter.tell(f"Finish logging in to @{a.handle} in the browser window; waiting up to {int(wait_s)} s.")
    await wait_for_person(a, wait_s)
    await _settle_home(a)
    seen = await read_screen(a)
    if not _same_account(seen.profile_href, a.handle):
        raise LoginFailed(f"The browser logged in as {seen.profile_href.strip('/')!r}, not @{a.handle}; nothing was stored.",
                          hint=f"Run `optout login {a.handle} --interactive` again and log in as @{a.handle}.")
    await _store_session(a, store)


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
        try:
            if interactive:
                a = Attempt(context=context, page=page, handle=key, settings=settings, prompter=prompter)
                await _with_screenshot(a, None, interactive_login(context, page, key, store, settings,
                                                                  prompter=prompter, wait_s=wait_s))
                return LoginReport(handle=key, fresh_login=True, interactive=True)
            fresh = await ensure_session(context, page, key, store, settings, prompter=prompter)
            return LoginReport(handle=key, fresh_login=fresh)
        finally:
            await context.close()
