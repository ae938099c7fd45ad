"""What X's refusals mean for an account: an onboarding API error (or an error toast) on a login step
becomes the typed error (errors.py) whose outcome the account gets. Nothing here retries anything."""

from __future__ import annotations

from optout.errors import AccountFailure, LoginFailed, NeedsHuman, RateLimited
from optout.x import screens as S
from optout.x.responses import ApiError
from optout.x.screens import LoginScreen

INTERACTIVE_HINT = ("Take the session of your own logged-in browser with `optout session import {h} --from-browser "
                    "chrome` (or chromium, brave, edge, firefox, safari), or log in once yourself with "
                    "`optout login {h} --interactive`.")


def interactive_hint(handle: str) -> str:
    """The ways in when X will not let a script log in, best first (README, "When X refuses the
    automatic login")."""
    return INTERACTIVE_HINT.format(h=handle)


def wrong_password_or_flagged(handle: str, url: str | None, said: str = "") -> LoginFailed:
    """X answers a wrong password and a browser it distrusts alike (error 399, in the account's
    language): say both, and both ways out. The password was typed once and is never retried."""
    return LoginFailed(
        f"X refused the login of @{handle} at the password step; the stored password was tried once and not "
        f"again. X gives this same answer for a wrong password and for a login it distrusts (its automation "
        f"or suspicious-activity check, error 399), so either may be the cause.{said}",
        hint=f"If the password is wrong, store the right one with `optout accounts add {handle}`. If it is right "
             f"(it works when you log in to X yourself), X refused the automatic login: " + interactive_hint(handle),
        url=url,
    )


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
        return wrong_password_or_flagged(handle, url, said)
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
