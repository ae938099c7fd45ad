"""One way to run accounts. `optout run` and `check` (one account at a time), `recheck` and `batch`
(side by side) all hand their accounts to `run_accounts`, which opens the browser (or takes the one the
command opened, or began to start), feeds the accounts through the work queue (pacing, rate-limit
retries, the challenge breaker), records each result in the history as soon as it is known, and works out
the exit code. `open_history` takes the run lock and opens the history for them, one way for every command.

What differs per command stays with the command: batch plans and resumes its run, recheck checks the
privacy policy first and notifies afterwards, run asks for a first password before anything starts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from playwright.async_api import Error as PlaywrightError

from optout import catalog, policy
from optout.browser import BrowserSession, StartingBrowser, open_browser
from optout.config import Settings
from optout.credentials import CredentialStore, normalize_handle
from optout.errors import BadInput, EnvironmentProblem, ExitCode, first_line
from optout.lock import run_lock
from optout.models import AccountResult, Mode, overall_exit_code
from optout.prompts import Prompter
from optout.redact import scrub
from optout.runner import MAX_TABS, pages_at_once_for, run_account
from optout.store import Store
from optout.work_queue import AccountJob, BatchObserver, Pacing, QuietObserver, Scheduler

log = logging.getLogger(__name__)

READ_POLICY = object()  # run_accounts' default: read the policy version for the receipts itself


@contextmanager
def open_history(settings: Settings, command: str) -> Iterator[Store]:
    """The run lock (one command at a time per state dir), then the history database."""
    with run_lock(settings, command), Store.open(settings) as history:
        yield history


def pacing_from(settings: Settings, *, concurrency: int | None = None) -> Pacing:
    """The work queue's rules from the settings (config, OPTOUT_*, command-line options)."""
    return Pacing(concurrency=concurrency or settings.concurrency, pace_s=settings.pace_s,
                  max_challenges=settings.max_challenges, rate_limit_max_wait_s=settings.rate_limit_max_wait_s,
                  slow_pace_s=settings.rate_limit_slow_pace_s)


@dataclass
class AccountsOutcome:
    """What a set of accounts came to, in the order the jobs were given."""

    results: list[AccountResult] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # normalised handles the breaker kept back
    breaker_opened: bool = False
    rate_limit_waits: int = 0
    final_pace_s: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        """The worst account's code; an account never started makes an all-good run a failure."""
        code = overall_exit_code(self.results)
        return ExitCode.FAILED if code == ExitCode.OK and self.not_started else code


async def run_accounts(
    settings: Settings,
    jobs: Sequence[AccountJob],
    *,
    mode: Mode,
    history: Store,
    run_id: int,
    pacing: Pacing,
    credentials: CredentialStore,
    prompter: Prompter | None = None,
    observer: BatchObserver | None = None,
    policy_version: str | None | object = READ_POLICY,
    browser: BrowserSession | StartingBrowser | None = None,
) -> AccountsOutcome:
    """Every job through `run_account` in one browser (opened here unless given, or started). A person at the terminal
    is asked for codes only when accounts run one at a time: concurrent questions could not say which
    login they feed. The browser dying mid-run is a clear EnvironmentProblem; what finished is saved."""
    if not jobs:
        return AccountsOutcome()
    if settings.use_browser_session and len(jobs) > 1:
        raise BadInput("--use-browser-session works for one account at a time: accounts never share a browser "
                       f"context, and {len(jobs)} were asked for.", hint="Run each account on its own.")
    if policy_version is READ_POLICY:  # read while the browser starts and the first account works
        policy_version = asyncio.ensure_future(policy.version_for_receipts(settings, history))
    asker = prompter if pacing.concurrency == 1 else None
    # A remote browser's cores are not this machine's: it keeps the pages at once.
    pages = MAX_TABS if settings.browser_endpoint else pages_at_once_for(min(pacing.concurrency, len(jobs)))

    def record(result: AccountResult) -> None:
        history.record_result(run_id, result)
        log.info("%s: @%s %s%s; %s", mode, result.handle, result.outcome, " (fresh login)" if result.logged_in else "",
                 ", ".join(f"{s.setting}={s.outcome}" for s in result.settings) or "no settings read")

    async def with_browser(session: BrowserSession) -> AccountsOutcome:
        async def work(job: AccountJob) -> AccountResult:
            return await run_account(session, job.handle, settings, mode=mode, setting_ids=job.settings,
                                     store=credentials, prompter=asker, policy_version=policy_version,
                                     proxy=job.proxy, pages_at_once=pages)

        try:
            scheduler = Scheduler(work, pacing, on_result=record, observer=observer)
            done = await _unless_browser_dies(session, scheduler.run(jobs))
        except PlaywrightError as exc:
            why = scrub(first_line(exc), settings.browser_endpoint)  # a remote browser's URL may carry a key
            raise EnvironmentProblem(
                f"The browser stopped in the middle of the run ({why}). Every account that finished is saved in "
                "the history (an account stopped at its very end has a receipt but no history row, and is done again).",
                hint="Run the same command again (a batch: with --resume) to do the rest.",
            ) from None
        by_handle = {r.handle: r for r in done.results}
        keys = [normalize_handle(j.handle) for j in jobs]
        return AccountsOutcome(results=[by_handle[k] for k in keys if k in by_handle],
                               not_started=[normalize_handle(h) for h in done.not_started],
                               breaker_opened=done.breaker_opened, rate_limit_waits=done.rate_limit_waits,
                               final_pace_s=done.final_pace_s)

    try:
        if isinstance(browser, BrowserSession):
            return await with_browser(browser)
        if browser is not None:
            return await with_browser(await browser.session())
        async with open_browser(settings) as session:
            return await with_browser(session)
    finally:
        if isinstance(policy_version, asyncio.Future):  # no account got as far as its receipt
            await _stop(policy_version)


async def _unless_browser_dies(session: BrowserSession, run):
    """`run`, stopped as soon as the browser disconnects: Playwright can leave a call pending forever on a
    browser whose process died (seen with new_page over CDP), so waiting for the calls alone could hang.
    The account in flight is cancelled (its evidence committed as interrupted), then it is a PlaywrightError."""
    gone = asyncio.Event()
    session.browser.on("disconnected", lambda _: gone.set())
    work, watch = asyncio.ensure_future(run), asyncio.ensure_future(gone.wait())
    try:
        await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # Ctrl-C (asyncio cancels us): the accounts stop with us, their evidence committed
        await _stop(work)
        raise
    finally:
        watch.cancel()
    if work.done():
        return work.result()
    await _stop(work)
    raise PlaywrightError("the browser disconnected")


async def _stop(work: asyncio.Future) -> None:
    work.cancel()
    await asyncio.gather(work, return_exceptions=True)


class RetryNotices(QuietObserver):
    """What a one-shot `optout run` says while it waits (the batch's progress display says it for batch)."""

    def __init__(self, tell) -> None:
        self.tell = tell

    def notice(self, message: str) -> None:
        self.tell(message)



async def opt_out(settings: Settings, handles: Sequence[str], *, mode: Mode, setting_ids: Sequence[str] | None = None,
                  prompter: Prompter | None = None, starting: StartingBrowser | None = None) -> AccountsOutcome:
    """`optout run` and `check`: the accounts one at a time (so a person can be asked for codes), with the
    queue's rate-limit waits, said out loud, and its challenge breaker. `starting`: the browser the command
    began to start before it loaded this module (browser.run_while_browser_starts)."""
    ids = tuple(setting_ids) if setting_ids else None
    catalog.select(list(ids) if ids else None)  # an unknown setting fails before any account starts
    jobs = [AccountJob(key, ids) for key in dict.fromkeys(normalize_handle(h) for h in handles)]
    command = "run" if mode is Mode.APPLY else str(mode)
    with open_history(settings, command) as history:
        run_id = history.start_run(command, settings.base_url)
        outcome = await run_accounts(settings, jobs, mode=mode, history=history, run_id=run_id,
                                     pacing=pacing_from(settings, concurrency=1), credentials=CredentialStore(settings),
                                     prompter=prompter, observer=RetryNotices(prompter.tell if prompter else log.info),
                                     browser=starting)
        history.finish_run(run_id, outcome.exit_code)
    return outcome
