"""Tell the user, through apprise (email, ntfy, Slack, Matrix, a webhook...), when a recheck found
something: a setting that flipped back on (and whether it was switched off again), a new privacy policy
(with the diff summary), an account that needs a person. Nothing is sent when nothing happened, unless
asked. Messages hold handles, setting ids, outcomes and the tool's own error messages, which never carry
secrets; the notification URLs themselves (which may hold tokens) are never printed or logged.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import apprise
from pydantic import BaseModel

from optout.config import Settings
from optout.errors import ExitCode
from optout.models import AccountOutcome, AccountResult, SettingOutcome
from optout.policy import PolicyDiff

log = logging.getLogger(__name__)


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    FAILURE = "failure"


class Notification(BaseModel):
    title: str
    body: str
    level: Level


class Delivery(BaseModel):
    """What happened to a notification: how many targets were configured, and whether all took it."""

    targets: int = 0
    sent: bool = False
    invalid_targets: int = 0  # URLs apprise could not parse (not shown: they may hold tokens)


def _drift_lines(result: AccountResult) -> list[str]:
    lines = []
    for s in result.settings:
        if s.outcome == SettingOutcome.TURNED_OFF:
            lines.append(f"Drift repaired on @{result.handle}: {s.setting} was on again; switched off and "
                         f"verified after a reload.")
        elif s.outcome == SettingOutcome.VERIFY_FAILED:
            lines.append(f"Drift NOT repaired on @{result.handle}: {s.setting} is on and stayed on after "
                         f"switching it off ({s.message or 'verify_failed'}).")
        elif s.outcome == SettingOutcome.DRIFT:
            lines.append(f"Drift found on @{result.handle}: {s.setting} is on (report only: not changed).")
    return lines


def _account_lines(result: AccountResult) -> list[str]:
    if result.outcome in (AccountOutcome.OK, AccountOutcome.DRIFT, AccountOutcome.VERIFY_FAILED):
        return _drift_lines(result)
    detail = " ".join(x for x in (result.message, result.hint) if x)
    if result.outcome == AccountOutcome.NEEDS_HUMAN:
        return [f"@{result.handle} needs a person: {detail or 'run `optout login --interactive`.'}"]
    return [f"@{result.handle} failed ({result.outcome}): {detail or 'see the evidence and the log.'}"]


def compose(results: list[AccountResult], *, policy_change: PolicyDiff | None = None,
            policy_error: str | None = None, not_started: list[str] | None = None,
            always: bool = False, news: list[str] | None = None) -> Notification | None:
    """One message for one recheck; None when there is nothing to say and `always` is False. `news`:
    lines about controls X shows that optout does not know (each said once, see observations.py)."""
    policy_lines: list[str] = []
    if policy_change:
        policy_lines.append(f"X's privacy policy changed (effective {policy_change.new.effective_label}; "
                            f"was {policy_change.old.effective_label}).")
        policy_lines += ["  " + line for line in policy_change.summary]
    if policy_error:
        policy_lines.append(f"The privacy policy could not be checked: {policy_error}")
    account_lines = [line for r in results for line in _account_lines(r)] + list(news or ())
    if not_started:
        account_lines.append(
            f"Not checked: {', '.join('@' + h for h in not_started)}. Several logins in a row met a challenge, "
            "so optout stopped starting accounts: X seems to be blocking logins from this machine.")
    ok = sum(r.outcome == AccountOutcome.OK for r in results)
    footer = f"Checked {len(results)} account(s): {ok} ok."
    if not (policy_lines or account_lines or always):
        return None
    title = _title(results, policy_change, policy_error, len(not_started or ()))
    level = Level.FAILURE if not_started else _level(results, policy_change, policy_error)
    if news and level is Level.INFO:
        level, title = Level.WARNING, title.replace("all settings still off", "all settings still off; X shows a new control")
    return Notification(title=title, body="\n".join(policy_lines + account_lines + [footer]), level=level)


def _title(results: list[AccountResult], policy_change, policy_error, not_started: int) -> str:
    parts = []
    repaired = sum(s.outcome == SettingOutcome.TURNED_OFF for r in results for s in r.settings)
    unrepaired = sum(s.outcome in (SettingOutcome.DRIFT, SettingOutcome.VERIFY_FAILED)
                     for r in results for s in r.settings)
    humans = sum(r.outcome == AccountOutcome.NEEDS_HUMAN for r in results)
    failed = sum(r.outcome.exit_code == ExitCode.FAILED for r in results)
    if repaired:
        parts.append(f"{repaired} setting(s) switched back off")
    if unrepaired:
        parts.append(f"{unrepaired} setting(s) on")
    if humans:
        parts.append(f"{humans} account(s) need a person")
    if failed:
        parts.append(f"{failed} account(s) failed")
    if policy_change:
        parts.append("X privacy policy changed")
    if policy_error:
        parts.append("policy unreadable")
    if not_started:
        parts.append(f"{not_started} account(s) not checked")
    return "optout: " + ("; ".join(parts) if parts else "all settings still off")


def _level(results: list[AccountResult], policy_change, policy_error) -> Level:
    if policy_error or any(r.outcome not in (AccountOutcome.OK, AccountOutcome.DRIFT) for r in results):
        return Level.FAILURE
    if policy_change or any(s.outcome != SettingOutcome.ALREADY_OFF for r in results for s in r.settings):
        return Level.WARNING
    return Level.INFO


_APPRISE_TYPE = {Level.INFO: apprise.NotifyType.INFO, Level.WARNING: apprise.NotifyType.WARNING,
                 Level.FAILURE: apprise.NotifyType.FAILURE}


def send(settings: Settings, notification: Notification) -> Delivery:
    """Deliver to every configured URL. Delivery problems are reported, never raised: a recheck that
    repaired settings must not fail because a chat server was down."""
    if not settings.notify_urls:
        return Delivery()
    targets = apprise.Apprise()
    invalid = sum(not targets.add(url) for url in settings.notify_urls)
    sent = bool(len(targets)) and bool(targets.notify(
        title=notification.title, body=notification.body, notify_type=_APPRISE_TYPE[notification.level],
        body_format=apprise.NotifyFormat.TEXT,
    ))
    if invalid or not sent:
        log.warning("notification: %d of %d target(s) unusable, delivered=%s",
                    invalid, len(settings.notify_urls), sent)
    return Delivery(targets=len(settings.notify_urls), sent=sent, invalid_targets=invalid)
