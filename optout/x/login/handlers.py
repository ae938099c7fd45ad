"""The login as a state machine: `log_in` reads the screen, the handler for that screen answers it (one
small handler per screen, in HANDLERS), until X shows a logged-in page. A refusal stops at once
with a typed error; nothing that could lock the account (above all the password) is ever retried."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlencode

from playwright.async_api import Page
from pydantic import SecretStr

from optout.config import Settings
from optout.errors import LoginFailed, NeedsHuman, UiChanged
from optout.otp import ServiceTOTP
from optout.site import ensure_field_on_site
from optout.x import screens as S
from optout.x.login.refusals import interactive_hint, wrong_password_or_flagged
from optout.x.login.screen import POLL_S, Attempt, Seen, wait_screen
from optout.x.pacing import pause, type_into
from optout.x.screens import LoginScreen

MAX_STEPS = 12  # a login has at most ~7 screens; more means it is going round in circles
MAX_IDENTIFIER_SCREENS = 2  # X may bounce a legacy login to the 2026 flow, which asks again
SUBMIT_WAIT_S = 0.5  # how long a step's button may take to become usable after typing
TOTP_MIN_REMAINING_S = 3  # don't type a code that expires before X checks it


# ---- acting on the page ----


async def usable(page: Page, selector: str):
    """The first copy of `selector` a person could use (X renders some forms twice), or None."""
    indexes = await page.evaluate(S.USABLE_INDEXES_JS, selector)
    return page.locator(selector).nth(indexes[0]) if indexes else None


async def field_of(a: Attempt, selector: str):
    found = await usable(a.page, selector)
    if found is None:
        raise UiChanged(f"The input for this login step vanished at {a.page.url}.", url=a.page.url,
                        hint="X may have changed its login pages; see the screenshot. " + interactive_hint(a.handle))
    return found


async def _submit(a: Attempt, field, buttons: str) -> None:
    """Click the step's own button once it is usable (X enables some only after typing), else press Enter.
    Only a field inside a form can have a button that turns into its submit button, so only then wait."""
    in_form = await field.evaluate("el => !!el.closest('form')")
    deadline = time.monotonic() + (min(SUBMIT_WAIT_S, a.settings.timeout_ms / 1000) if in_form else 0)
    while True:
        button = await usable(a.page, buttons)
        if button is not None and await button.is_enabled():
            await button.click()
            return
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(POLL_S)
    await field.press("Enter")


def _answering(a: Attempt, answer: str) -> None:
    """Tell the watcher of X's answers what this step sends: its refusals are the errors to that request."""
    if a.responses is not None:
        a.responses.answering(answer)


async def _answer_text(a: Attempt, selector: str, buttons: str, text: str) -> None:
    await pause(a.settings)
    field = await field_of(a, selector)
    await ensure_field_on_site(field, a.creds.site if a.creds else a.settings.base_url, "an answer")
    _answering(a, text)
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
        _answering(a, code)
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
        raise UiChanged("X keeps asking for the account name.", url=seen.url, hint=interactive_hint(a.handle))
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
        raise wrong_password_or_flagged(a.handle, seen.url)
    await pause(a.settings)
    field = await field_of(a, S.PASSWORD_INPUT)
    await ensure_field_on_site(field, a.creds.site, "the password")
    password = a.creds.password.get_secret_value()
    _answering(a, password)
    await type_into(field, password, a.settings)
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
                         hint=interactive_hint(a.handle), url=seen.url)
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
                     hint="Confirm it was you in the email X sent, then " + interactive_hint(a.handle)[0].lower()
                     + interactive_hint(a.handle)[1:])


async def on_captcha(a: Attempt, seen: Seen) -> None:
    raise NeedsHuman(f"X shows a captcha for @{a.handle}; only a person can solve it.", url=seen.url,
                     hint=interactive_hint(a.handle))


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


def login_url(settings: Settings, after: str | None) -> str:
    """X's login page. With `after` (a path), X lands there once logged in, as it does for a logged-out
    visitor of any of its pages: the run's first settings page then needs no load of its own, and no
    home page follows the login."""
    url = settings.url(S.LOGIN_PATH)
    return f"{url}?{urlencode({'redirect_after_login': after})}" if after else url


async def log_in(a: Attempt) -> None:
    """Run the state machine from X's login page until logged in; raises on any refusal."""
    if a.responses is None:
        raise ValueError("log_in needs the page's XResponses")
    a.responses.new_flow()
    try:
        await _answer_screens(a)
    finally:
        a.responses.answering(None)  # the last answer may be the password: hold it no longer than the login


async def _answer_screens(a: Attempt) -> None:
    await a.page.goto(login_url(a.settings, a.after))
    seen = await wait_screen(a, None, a.responses.mark())
    for _ in range(MAX_STEPS):
        if seen.screen is LoginScreen.LOGGED_IN:
            return
        mark = a.responses.mark()
        await HANDLERS[seen.screen](a, seen)
        seen = await wait_screen(a, seen, mark)
    raise UiChanged(f"The login of @{a.handle} went round in circles.", url=a.page.url, hint=interactive_hint(a.handle))
