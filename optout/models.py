"""Results of a run, shared by every command. Plain pydantic models so they print as JSON unchanged."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

from pydantic import BaseModel, Field

from optout.errors import ExitCode


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Mode(StrEnum):
    APPLY = "apply"  # turn settings off
    CHECK = "check"  # read only; a setting that is on is drift
    DRY_RUN = "dry_run"  # read only; say what apply would change


class SettingOutcome(StrEnum):
    ALREADY_OFF = "already_off"
    TURNED_OFF = "turned_off"
    WOULD_TURN_OFF = "would_turn_off"  # dry run found it on
    DRIFT = "drift"  # check found it on
    VERIFY_FAILED = "verify_failed"  # clicked, but the reload still showed it on
    NOT_FOUND = "not_found"  # neither the URL nor the menu led to the control

    @property
    def is_ok(self) -> bool:
        return self in (SettingOutcome.ALREADY_OFF, SettingOutcome.TURNED_OFF, SettingOutcome.WOULD_TURN_OFF)


class AccountOutcome(StrEnum):
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


class Observation(BaseModel):
    """A control on a catalog page that the catalog does not know: news, never clicked."""

    page: str
    label: str
    state: bool


class SettingResult(BaseModel):
    setting: str  # catalog id
    url: str | None = None
    route: str | None = None  # "direct" or "menu": how the page was reached
    before: bool | None = None  # True = on (shared), False = off
    after: bool | None = None
    changed: bool = False
    verified_after_reload: bool = False
    outcome: SettingOutcome
    before_screenshot: str | None = None
    after_screenshot: str | None = None
    message: str | None = None
    # How X's page was read (issue 10): control key -> "text" or "position"; where X moved the page;
    # controls there that optout does not know.
    identified_by: dict[str, str] = Field(default_factory=dict)
    moved_to: str | None = None
    observations: list[Observation] = Field(default_factory=list)


class AccountResult(BaseModel):
    handle: str
    mode: Mode
    outcome: AccountOutcome
    settings: list[SettingResult] = Field(default_factory=list)
    message: str | None = None
    hint: str | None = None
    logged_in: bool = False  # a fresh login happened (False: the stored session was reused)
    evidence_dir: str | None = None
    receipt: str | None = None
    receipt_sha256: str | None = None  # also kept in the history: an anchor outside the evidence folder
    rate_limit_reset: float | None = None  # epoch seconds
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None


def overall_exit_code(results: list[AccountResult]) -> ExitCode:
    """One exit code for many accounts: any plain failure wins, then needs-human, then drift."""
    codes = {r.outcome.exit_code for r in results}
    for code in (ExitCode.FAILED, ExitCode.NEEDS_HUMAN, ExitCode.DRIFT):
        if code in codes:
            return code
    return ExitCode.OK
