"""The unattended re-check: read X's privacy policy, then, for each account, read the settings with the
saved session and switch off any that flipped back on (CHECK mode only, with report_only), with fresh
evidence, results in the history database and a notification when something happened.

It is `run_account` in APPLY mode, which reads before it writes: an account whose settings are still off
costs no login (the saved session is reused) and no settings write. Each account re-checks the settings
its newest opt-out dealt with (the default set when it has none). With if_policy_changed the accounts are
touched only when the policy text differs from the one the previous recheck saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pydantic import BaseModel, Field

from optout import catalog, notify, observations, policy, recheck_failure
from optout.browser import BrowserSession, open_browser
from optout.config import Settings
from optout.credentials import CredentialStore, normalize_handle
from optout.errors import BadInput, ExitCode, OptoutError, PolicyUnreadable, UnknownAccount
from optout.logs import configure_file_log
from optout.models import AccountResult, Mode, overall_exit_code
from optout.policy import PolicyCheck, PolicyDiff
from optout.prune import prune
from optout.orchestrator import open_history, pacing_from, run_accounts
from optout.store import Store
from optout.work_queue import AccountJob, BatchObserver, QuietObserver

log = logging.getLogger(__name__)

LAST_POLICY_KEY = "recheck.policy_hash"


class RecheckReport(BaseModel):
    run_id: int | None = None
    policy: PolicyCheck | None = None
    policy_changed: bool = False  # differs from what the previous recheck saw
    policy_baseline: bool = False  # there was an earlier reading to compare with
    policy_diff: PolicyDiff | None = None  # set when policy_changed
    policy_error: str | None = None
    skipped: bool = False  # if_policy_changed and the policy is the same: no account touched
    results: list[AccountResult] = Field(default_factory=list)  # in the order the accounts were named
    not_started: list[str] = Field(default_factory=list)  # the challenge breaker stopped them
    breaker_opened: bool = False
    pruned_runs: int = 0  # routine evidence removed afterwards (config prune_after_days)
    notification: notify.Notification | None = None
    delivery: notify.Delivery | None = None
    exit_code: int = ExitCode.OK


def select_handles(credentials: CredentialStore, handles: Sequence[str], all_accounts: bool) -> list[str]:
    """The accounts to re-check: the named ones (which must be stored) or every stored one."""
    if all_accounts == bool(handles):
        raise BadInput("Name the accounts to re-check, or pass --all for every stored account (not both).")
    if all_accounts:
        keys = credentials.handles()
        if not keys:
            raise BadInput("There are no stored accounts to re-check.", hint="Add one with `optout run @handle`.")
        return keys
    keys = list(dict.fromkeys(normalize_handle(h) for h in handles))
    stored = set(credentials.handles())  # a password, a session, or both (an imported session is enough)
    unknown = [k for k in keys if k not in stored]
    if unknown:
        raise UnknownAccount(f"No stored account for {', '.join('@' + k for k in unknown)}.",
                             hint="Run `optout run @handle` once to store it.")
    return keys


async def recheck(settings: Settings, handles: Sequence[str] = (), *, all_accounts: bool = False,
                  report_only: bool = False, if_policy_changed: bool = False, notify_always: bool = False,
                  prompter=None, observer: BatchObserver | None = None) -> RecheckReport:
    configure_file_log(settings)
    credentials = CredentialStore(settings)
    keys = select_handles(credentials, handles, all_accounts)
    with open_history(settings, "recheck") as store:
        report = RecheckReport()
        snapshot_error = await _read_policy(settings, store, report, browser=None)
        if if_policy_changed and report.policy_baseline and not report.policy_changed:
            report.skipped = True
            log.info("recheck: policy unchanged (%s); no account touched", report.policy.current.effective_label)
        else:
            async with open_browser(settings) as browser:
                if snapshot_error:  # plain HTTP could not read it; the browser may
                    await _read_policy(settings, store, report, browser=browser)
                await _accounts(settings, store, report, browser, credentials, keys,
                                Mode.CHECK if report_only else Mode.APPLY, prompter, observer)
        if report.policy and not report.skipped:
            store.set_meta(LAST_POLICY_KEY, report.policy.current.text_hash)
        _finish(settings, store, report, notify_always)
    _prune(settings, report)
    return report


def _prune(settings: Settings, report: RecheckReport) -> None:
    """Retention for unattended use; a problem here is logged, never a failed recheck."""
    if settings.prune_after_days is None or not settings.evidence_root.is_dir():
        return
    try:
        report.pruned_runs = len(prune(settings.evidence_root, settings.prune_after_days).removed)
    except OptoutError as exc:
        log.warning("recheck: evidence not pruned: %s", exc.message)
        return
    log.info("recheck: pruned %d routine run(s) older than %g day(s)", report.pruned_runs, settings.prune_after_days)


async def _read_policy(settings: Settings, store: Store, report: RecheckReport,
                       browser: BrowserSession | None) -> bool:
    """Fill the report's policy fields; True when the page could not be read (a network failure raises)."""
    try:
        report.policy = await policy.check_policy(settings, store, browser)
    except PolicyUnreadable as exc:
        report.policy_error = str(exc)
        log.warning("recheck: %s", exc)
        return True
    report.policy_error = None
    last = store.get_meta(LAST_POLICY_KEY)
    # Before the first recheck, the version `optout policy` saw last is the one to compare with.
    old = store.policy(last) if last else (report.policy.previous if report.policy.new_version else None)
    report.policy_baseline = bool(last) or old is not None
    report.policy_changed = bool(old) and old.text_hash != report.policy.current.text_hash
    if report.policy_changed:
        report.policy_diff = policy.diff_between(old, report.policy.current)
        log.info("recheck: privacy policy changed: %s", " ".join(report.policy_diff.summary))
    return False


async def _accounts(settings: Settings, store: Store, report: RecheckReport, browser: BrowserSession,
                    credentials: CredentialStore, keys: list[str], mode: Mode, prompter,
                    observer: BatchObserver | None) -> None:
    """The accounts through run_accounts (the work queue: pacing, rate-limit retries and the challenge
    breaker), each with the settings its last opt-out applied, in the browser the policy read may have used."""
    report.run_id = store.start_run("recheck", settings.base_url)
    policy_version = report.policy.current.receipt_label if report.policy else None
    known = set(catalog.all_ids())  # a setting dropped from the catalog since is not re-checked
    jobs = [AccountJob(key, tuple(i for i in store.applied_settings(key) if i in known) or None) for key in keys]
    (observer or QuietObserver()).begin(len(jobs))
    done = await run_accounts(settings, jobs, mode=mode, history=store, run_id=report.run_id,
                              pacing=pacing_from(settings), credentials=credentials, prompter=prompter,
                              observer=observer, policy_version=policy_version, browser=browser)
    report.results, report.not_started, report.breaker_opened = done.results, done.not_started, done.breaker_opened


def _finish(settings: Settings, store: Store, report: RecheckReport, notify_always: bool) -> None:
    code = overall_exit_code(report.results)
    if (report.policy_error or report.not_started) and code == ExitCode.OK:
        code = ExitCode.FAILED
    report.exit_code = int(code)
    if report.run_id is not None:
        store.finish_run(report.run_id, code)
    report.notification = notify.compose(report.results, policy_change=report.policy_diff,
                                         policy_error=report.policy_error, not_started=report.not_started,
                                         always=notify_always,
                                         news=observations.news(store, settings.base_url, report.results))
    if report.notification:
        report.delivery = notify.send(settings, report.notification)
    log.info("recheck: done, exit code %d, notification %s", code,
             "sent" if report.delivery and report.delivery.sent else "not sent")


def run_recheck(settings: Settings, handles: Sequence[str] = (), **options) -> RecheckReport:
    """The CLI's entry: `recheck` in its own event loop. A recheck that cannot run leaves a failure record
    and says so where it can (recheck_failure.py); one that runs delivers and clears an earlier one."""
    try:
        report = asyncio.run(recheck(settings, handles, **options))
    except BadInput:
        raise  # a mistyped command line is answered at once, not a failed scheduled run
    except BaseException as exc:
        recheck_failure.record(settings, exc)
        raise
    recheck_failure.retry_and_clear(settings)
    return report
