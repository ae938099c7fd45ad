"""What X's refusals mean for an account: an onboarding API error (or an error toast) on a login step
becomes the typed error (errors.py) whose outcome the account gets. Nothing here retries anything."""

from __future__ import annotations

from optout.errors import AccountFailure, LoginFailed, NeedsHuman, RateLimited
from optout.x import screens as S
from optout.x.responses import ApiError
from optout.x.screens import LoginScreen

INTERACTIVE_HINT = "Log in once yourself with `optout login {h} --interactive`, or paste cookies with `optout session import {h}`."


def interactive_hint(handle: str) -> str:
    return INTERACTIVE_HINT.format(h=handle)


def _said(message: str | None) -> str:
    return f" X said: {message!r}." if message else ""


def refusal(handle: str, url: str, step: LoginScreen, error: ApiError | None, alert: str | None) -> AccountFailure:
    """What an error answer (or an error toast) on `step` means for the account."""
    said = _said((error.message if error else None) or alert)
    code = error.code if error else None
    if code == S.CODE_RATE_LIMIT or (error and error.status == 429):
        return RateLimited(f"X is rate-limiting logins right now.{said}", reset_at=error.reset_at,
                           hint="Wait until the limit resets, then run again.", url=url)
    if code == S.CODE_LIMITED:
        # A login lock-out, not an API rate limit: it has no reset time, and retrying a password into it
        # prolongs it. A person decides when to try again.
        return NeedsHuman(f"X has temporarily limited logins to @{handle}.{said}",
                          hint="Wait some hours before trying again. " + interactive_hint(handle), url=url)
    if step is LoginScreen.IDENTIFIER:
        return LoginFailed(f"X did not accept the account name @{handle}.{said}",
                           hint="Check the handle. If it is right, X may be refusing automated logins: "
                           + interactive_hint(handle), url=url)
    if step is LoginScreen.PASSWORD:
        return LoginFailed(f"X refused the password stored for @{handle}; it was tried once and not again.{said}",
                           hint=f"Store the right one with `optout accounts add {handle}`.", url=url)
    if step is LoginScreen.ALTERNATE_IDENTIFIER:
        return LoginFailed(f"X did not accept the phone, email or username given for @{handle}.{said}",
                           hint=f"Store the right one with `optout accounts add {handle} --phone/--email`.", url=url)
    if step is LoginScreen.TWO_FACTOR:
        return LoginFailed(f"X did not accept the two-factor code for @{handle}.{said}",
                           hint="Check the stored TOTP secret and this computer's clock.", url=url)
    if step in (LoginScreen.EMAIL_CODE, LoginScreen.EMAIL_ADDRESS):
        return NeedsHuman(f"X did not accept the email confirmation for @{handle}.{said}",
                          hint=interactive_hint(handle), url=url)
    return LoginFailed(f"X refused the login of @{handle} at the {step} step.{said}", hint=interactive_hint(handle), url=url)
