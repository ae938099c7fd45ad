"""Typed failures. Every expected failure is an OptoutError with a one-paragraph message and an exit code;
the CLI catches the base class at the top so users never see a traceback for them."""

from __future__ import annotations

from enum import IntEnum, StrEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in README.md."""

    OK = 0
    FAILED = 1  # some account failed (login_failed, ui_changed, rate_limited, error, verify_failed)
    BAD_INPUT = 2  # malformed file, unknown account or setting, bad option
    NEEDS_HUMAN = 3  # captcha, email code, denied login: run `optout login --interactive`
    DRIFT = 4  # check-only mode found a setting switched on
    ENVIRONMENT = 5  # no browser, no keyring, unreachable base URL


class AccountOutcome(StrEnum):
    """How one account's run ended; every AccountFailure names the one it leads to."""

    OK = "ok"
    DRIFT = "drift"
    LOGIN_FAILED = "login_failed"
    NEEDS_HUMAN = "needs_human"
    RATE_LIMITED = "rate_limited"
    UI_CHANGED = "ui_changed"
    VERIFY_FAILED = "verify_failed"
    ERROR = "error"

    @property
    def exit_code(self) -> ExitCode:
        return _EXIT_BY_OUTCOME.get(self, ExitCode.FAILED)


_EXIT_BY_OUTCOME = {
    AccountOutcome.OK: ExitCode.OK,
    AccountOutcome.DRIFT: ExitCode.DRIFT,
    AccountOutcome.NEEDS_HUMAN: ExitCode.NEEDS_HUMAN,
}


class OptoutError(Exception):
    """Base of every failure the tool expects. `message` must never contain a secret."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class BadInput(OptoutError):
    exit_code = ExitCode.BAD_INPUT


class EnvironmentProblem(OptoutError):
    exit_code = ExitCode.ENVIRONMENT


class BrowserNotFound(EnvironmentProblem):
    pass


class KeyringUnavailable(EnvironmentProblem):
    pass


class UnknownAccount(BadInput):
    pass


class AccountFailure(OptoutError):
    """A failure of one account: it ends that account's run with `outcome`, but a batch goes on."""

    outcome: AccountOutcome = AccountOutcome.ERROR

    def __init__(self, message: str, *, hint: str | None = None, url: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.url = url


class LoginFailed(AccountFailure):
    outcome = AccountOutcome.LOGIN_FAILED


class NeedsHuman(AccountFailure):
    outcome = AccountOutcome.NEEDS_HUMAN
    exit_code = ExitCode.NEEDS_HUMAN


class RateLimited(AccountFailure):
    outcome = AccountOutcome.RATE_LIMITED

    def __init__(self, message: str, *, reset_at: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.reset_at = reset_at


class UiChanged(AccountFailure):
    outcome = AccountOutcome.UI_CHANGED


class SessionLost(AccountFailure):
    """X sent the page to its login screen mid-run: the session ended (expired or logged out)."""


class XKeepsFailing(AccountFailure):
    """X answered "Something went wrong" on every retry."""


class WrongSite(AccountFailure):
    """A secret was about to go to a host other than the site it is stored for; nothing was typed."""

    outcome = "error"


class LockBusy(OptoutError):
    """Another optout run holds the lock."""

    exit_code = ExitCode.ENVIRONMENT


class PolicyUnreadable(OptoutError):
    """The privacy-policy page answered but could not be read (no effective date, no body): X changed it.
    Never recorded as a new policy version."""

    exit_code = ExitCode.FAILED


def first_line(exc: BaseException) -> str:
    """An exception's first line (its type name when it has no text): enough to say what failed
    without the call log Playwright appends below it."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class DiskFull(EnvironmentProblem):
    """The disk holding the evidence (or another folder optout writes) is full; nothing half-written is kept."""
