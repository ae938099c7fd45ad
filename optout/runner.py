"""The one work function: one account, one fresh browser context, every setting asked for, evidence and
a receipt. run, check, recheck and batch all reach it through optout.orchestrator.run_accounts; none of
them re-implements a step.

It never raises for a failure of the account (bad password, captcha, rate limit, changed page): those
become the result's outcome, with a receipt and a screenshot of where it stopped. Only problems of the
machine itself (no keyring, browser gone) propagate.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from optout import __version__, catalog
from optout.browser import BrowserSession
from optout.catalog import SettingSpec
from optout.config import Settings
from optout.credentials import CredentialStore, SessionCookies, normalize_handle
from optout.errors import AccountFailure, BadInput, EnvironmentProblem, OptoutError, first_line
from optout.evidence import ClearedSheet, EvidenceRun, Failure, Receipt, SettingRecord, sha256_file
from optout.files import write_private
from optout.models import AccountOutcome, AccountResult, Mode, Observation, SettingOutcome, utcnow
from optout.prompts import Prompter
from optout.proxy import parse_proxy
from optout.x import settings as driver
from optout.x import sheets
from optout.x.login import ensure_session
from optout.x.login.screen import bound_for_login_page, on_login_page
from optout.x.login.session import ensure_browser_session, keep_rotated, prove_on_page, use_saved_session
from optout.x.responses import XResponses

log = logging.getLogger(__name__)


MAX_TABS = 3
"""At most this many of an account's settings pages load at once, each in its own tab of the account's
context, every tab in a window of its own (`_open_tabs`). Settings that share a page, like the two Grok
ones, share its tab and go one after the other, so no tab clicks on a page another tab has changed. Why
not more: every tab is one more renderer's memory and drawing on a 2-core machine that batch already
keeps busy with several accounts; and X counts an account's requests against its rate limits, so a burst
of pages at once looks less like a person. The default selection has two pages; the whole catalog has
five."""


def pages_at_once_for(concurrency: int, cores: int | None = None) -> int:
    """How many of an account's settings pages load at once when `concurrency` accounts run together on a
    browser on this machine. Pages at once shorten an account's run only while the machine has cores to
    spare: one account waits on X most of the time. Once the accounts in flight outnumber the cores, the
    cores are the limit, and each extra window only adds its own cost. On 2 cores, 16 accounts at
    concurrency 8 took as long with one tab each as with two windows each, with 10% less CPU and 23% less
    peak memory (docs/benchmarks.md)."""
    cores = cores or _cores()
    return MAX_TABS if concurrency <= cores else 1


def _cores() -> int:
    """The cores this process may use: those it may run on, fewer under a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, _cgroup_quota() or cores))


def _cgroup_quota(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int | None:
    """cgroup v2's CPU quota in whole cores (`docker --cpus`, a Kubernetes limit), or None when unlimited."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
        return max(1, math.ceil(int(quota) / int(period))) if quota != "max" else None
    except (OSError, ValueError):
        return None


async def run_account(
    browser: BrowserSession,
    handle: str,
    settings: Settings,
    *,
    mode: Mode,
    setting_ids: Sequence[str] | None = None,
    store: CredentialStore,
    prompter: Prompter | None = None,
    policy_version: str | None | asyncio.Future = None,
    proxy: str | None = None,
    pages_at_once: int = MAX_TABS,
) -> AccountResult:
    """Log in (or reuse the saved session), then read, and in apply mode switch off, each setting.
    `policy_version` (effective date and text hash of X's privacy policy, as the command read it when it
    started, or a Future of it, read meanwhile) goes into the receipt, so evidence says which policy the
    opt-out answered. `pages_at_once`: how many of its settings pages load at the same time, each in a window
    of its own (`pages_at_once_for`)."""
    handle = normalize_handle(handle)
    specs = catalog.select(list(setting_ids) if setting_ids else None)
    evidence = EvidenceRun(settings.evidence_root, handle, credentials=store, tsa_url=settings.tsa_url)
    result = AccountResult(handle=handle, mode=mode, outcome=AccountOutcome.OK, started_at=evidence.started_at,
                           evidence_dir=str(evidence.dir))
    job = _AccountJob(browser, settings, store, prompter, evidence, result, pages_at_once)
    try:
        option = _proxy_option(proxy or settings.proxy, store)
    except BadInput as exc:  # this account's proxy cannot be used: the account fails, the batch goes on
        result.outcome, result.message, result.hint = AccountOutcome.ERROR, exc.message, exc.hint
        job.failure = Failure(outcome=AccountOutcome.ERROR, message=exc.message)
        job.work_done = True
    else:
        try:
            async with browser.account_context(proxy=option) as context:
                await _run_job(job, context, specs, policy_version)
        except BaseException as exc:  # stopped while the context closed: the receipt is not written yet
            if not job.committed:
                _commit_on_stop(job, policy_version, exc)
            raise
    result.finished_at = utcnow()
    try:
        version = await _policy(policy_version)
    except asyncio.CancelledError as exc:  # stopped while the policy read ends
        _commit_on_stop(job, policy_version, exc)
        raise
    receipt = await evidence.commit(job.receipt(version))
    result.receipt, result.receipt_sha256 = str(receipt), sha256_file(receipt)
    return result


async def _policy(version: str | None | asyncio.Future) -> str | None:
    """The policy version, once the command's read of it (started with the browser) has finished; None
    if that read was called off while this account goes on."""
    if not isinstance(version, asyncio.Future):
        return version
    try:
        return await asyncio.shield(version)
    except asyncio.CancelledError:
        if version.cancelled() and not asyncio.current_task().cancelling():
            return None
        raise


def _policy_now(version: str | None | asyncio.Future) -> str | None:
    """The policy version if already known: an interrupted receipt is written at once, not after a read."""
    if isinstance(version, asyncio.Future):
        return version.result() if version.done() and not version.cancelled() else None
    return version


def _proxy_option(url: str | None, store: CredentialStore) -> dict | None:
    """Playwright's proxy option for the account (its password from the keyring), or None."""
    return parse_proxy(url).playwright(store.proxy_password) if url else None


async def _run_job(job: _AccountJob, context: BrowserContext, specs: list[SettingSpec],
                   policy_version: str | None | asyncio.Future) -> None:
    try:
        await job.run(context, specs)
    except BaseException as exc:  # Ctrl-C, a full disk, the browser gone: commit what was done
        _commit_on_stop(job, policy_version, exc)
        raise


def _commit_on_stop(job: _AccountJob, policy_version: str | None | asyncio.Future, why: BaseException) -> None:
    """The command stops during this account: its receipt is committed at once. Marked interrupted if
    the account's work was cut short; as it is if the work was done and only its tabs, context or
    policy read were left (the receipt then has no history row, and the next run does the account
    again)."""
    receipt = job.receipt(_policy_now(policy_version))
    if job.work_done:
        log.warning("@%s: stopped after its work was done; its receipt is in %s, without a history row (%s)",
                    job.result.handle, job.evidence.dir, type(why).__name__)
        job.evidence.write_on_stop(receipt)
    else:
        job.evidence.write_interrupted(receipt, why)
    job.committed = True


_Group = list[tuple[int, SettingSpec]]  # the settings one page shows, each with its catalog position


@dataclass
class _Tab:
    """One tab of the account's context and its own watcher of X's answers (a rate limit or failed API
    read on it stops the setting it shows, as on a single page)."""

    page: Page
    responses: XResponses
    landed: driver.Landing | None = None  # where a login just landed this tab (that page is not loaded again)


@dataclass
class _Stop:
    """What ended the account on one tab; the first in catalog order becomes the receipt's failure."""

    index: int
    spec: SettingSpec
    tab: _Tab
    error: Exception


class _LoginFailedOnAnotherTab(Exception):
    """The session was lost on several tabs at once, and the fresh login one of them made failed."""


class _AccountJob:
    """The state of one account's run, so each step stays a short method."""

    def __init__(self, browser, settings, store, prompter, evidence: EvidenceRun, result: AccountResult,
                 pages_at_once: int = MAX_TABS):
        self.browser, self.settings, self.store, self.prompter = browser, settings, store, prompter
        self.pages_at_once = max(1, min(pages_at_once, MAX_TABS))
        self.evidence, self.result = evidence, result
        self.done: dict[int, SettingRecord] = {}  # by catalog position, whichever tab finished first
        self.failure: Failure | None = None
        self.current: str | None = None  # the setting being worked on, for the failure record
        self.sheets: list[ClearedSheet] = []
        self.unproven: SessionCookies | None = None  # a saved session no page has shown alive yet
        self.logins = 0  # fresh logins after a lost session, so tabs that lose it together log in once
        self.relogin = asyncio.Lock()
        self.relogin_failed = False  # then the tabs waiting for that login stop, and its failure is the account's
        self.tabs: list[_Tab] = []
        self.work_done = False  # the account's outcome is final: only its tabs and context are left to close
        self.committed = False  # its receipt was written while the command stopped

    @property
    def records(self) -> list[SettingRecord]:
        """The settings done so far, in catalog order (the receipt's order, as when one page did them all)."""
        return [self.done[i] for i in sorted(self.done)]

    async def run(self, context: BrowserContext, specs: list[SettingSpec]) -> None:
        groups = _by_page(specs)
        page = await context.new_page()
        self.tabs = [_Tab(page, XResponses(page))]  # the first: the login's, then a page's settings
        try:
            await self._login(context, self.tabs[0], groups[0][0][1])  # a fresh login lands on the first page
            await self._open_tabs(context, page, len(groups))  # after the login: a failed one needs none
            stop = await self._all_settings(context, groups)
            if stop is not None:  # the receipt's failure: that setting, with a screenshot of its tab
                self.current, page = stop.spec.id, stop.tab.page
                raise stop.error
            self.current = None
            self.result.outcome = _account_outcome(self.result.mode, self.records)
        except EnvironmentProblem:
            raise
        except AccountFailure as exc:
            await self._fail(page, exc.outcome, exc.message, exc.hint, exc.url, getattr(exc, "screenshot", None))
            self.result.rate_limit_reset = getattr(exc, "reset_at", None)
        except OptoutError as exc:
            await self._fail(page, AccountOutcome.ERROR, exc.message, exc.hint, None)
        except PlaywrightError as exc:
            if await self.browser.lost():
                raise  # the machine's problem, not the account's: the run stops, and --resume does this account
            # Playwright's first line names the call and the timeout; never a typed value.
            first = first_line(exc)
            await self._fail(page, AccountOutcome.ERROR, f"The browser step failed: {first}", None, None)
        except Exception as exc:  # a bug of ours must cost one account, not the whole batch
            log.exception("unexpected error for @%s", self.result.handle)
            await self._fail(page, AccountOutcome.ERROR, f"Unexpected internal error ({type(exc).__name__}).",
                             "Please report it with the log file from the state dir.", None)
        finally:
            self.result.settings = self.records
        self.work_done = True
        await self._close_extra_tabs()

    async def _open_tabs(self, context: BrowserContext, first: Page, pages: int) -> None:
        """One more tab per settings page beyond the first (at most `pages_at_once` in all), each in a window
        of its own so that every one is drawn (BrowserSession.page_in_new_window). In the user's own browser
        (use_browser_session) no window is opened on their screen: one tab does the pages in turn."""
        if self.settings.use_browser_session:
            return
        for _ in range(min(self.pages_at_once, pages) - 1):
            extra = await self.browser.page_in_new_window(context, first)
            self.tabs.append(_Tab(extra, XResponses(extra)))

    async def _login(self, context: BrowserContext, tab: _Tab, spec: SettingSpec, *, fresh: bool = False) -> None:
        """The first time, a saved session only has its cookies put back: the settings pages prove it
        (`_proven`). `fresh` (the session was lost on a page): the full check, else a new login, which asks
        X to land on `spec`'s page (redirect_after_login): the tab's first page, and no home page after it."""
        if self.settings.use_browser_session:
            await ensure_browser_session(tab.page, self.result.handle, self.settings, tab.responses)
            return
        self.unproven = None
        if not fresh:
            self.unproven = await use_saved_session(context, self.result.handle, self.store, self.settings)
            if self.unproven is not None:
                return
        after = driver.first_path(spec, self.settings)
        landing = driver.Landing(after, tab.responses.api_failures)
        fresh_login = await ensure_session(
            context, tab.page, self.result.handle, self.store, self.settings,
            responses=tab.responses, prompter=self.prompter, shots_dir=self.evidence.dir, after=after,
        )
        tab.landed = landing if fresh_login else None
        self.result.logged_in = fresh_login or self.result.logged_in

    async def _all_settings(self, context: BrowserContext, groups: list[_Group]) -> _Stop | None:
        """Each page's settings in a tab of their own (the tabs opened together, at most `pages_at_once`; one
        tab does them in turn). A failure that ends the account lets the other tabs finish the setting they
        are on (its evidence is whole) but start no other."""
        pending = deque(groups)
        stops: list[_Stop] = []

        async def worker(tab: _Tab) -> None:
            while pending and not stops:
                for index, spec in pending.popleft():
                    if stops:
                        return
                    try:
                        self.done[index] = await self._setting_with_relogin(context, tab, spec)
                    except _LoginFailedOnAnotherTab:
                        return  # that tab's failure is the account's
                    except Exception as exc:  # noqa: BLE001  judged by run(), as on a single page
                        stops.append(_Stop(index, spec, tab, exc))

        async with asyncio.TaskGroup() as workers:
            for tab in self.tabs:
                workers.create_task(worker(tab))
        return min(stops, key=lambda s: s.index) if stops else None

    async def _close_extra_tabs(self) -> None:
        """The tabs opened for the settings, once their evidence is taken (the first one closes with the
        context; in the user's own browser, account_context closes every tab optout opened)."""
        for tab in self.tabs[1:]:
            try:
                await tab.page.close()
            except PlaywrightError:
                pass

    async def _setting_with_relogin(self, context: BrowserContext, tab: _Tab, spec: SettingSpec) -> SettingRecord:
        """A session that dies mid-run (X logged it out) gets one fresh login, then the setting again. Tabs
        that lose it together wait for the one login the first of them makes. A tab that stopped on X's
        login screen for another reason (the session died, or another tab's login cleared it, while it was
        busy with the page, or X's script is taking the tab there right now) lost it too."""
        logins = self.logins
        try:
            return await self._setting(tab, spec)
        except Exception as exc:
            lost = isinstance(exc, driver.SessionLost) or on_login_page(_url(tab.page) or "") or (
                isinstance(exc, PlaywrightError) and await bound_for_login_page(tab.page))
            if not lost:
                raise
            async with self.relogin:
                if self.relogin_failed:
                    raise _LoginFailedOnAnotherTab() from None
                if self.logins == logins:
                    self.logins += 1
                    try:
                        await self._login(context, tab, spec, fresh=True)
                    except BaseException:
                        self.relogin_failed = True
                        raise
            return await self._setting(tab, spec)

    async def _proven(self, page: Page) -> None:
        """The page shows this account logged in (else SessionLost, and a fresh login); the first page to
        show a saved session alive keeps X's rotated cookies, as the home page check did."""
        await prove_on_page(page, self.result.handle, unproven=self.unproven is not None)
        if self.unproven is not None:
            stored, self.unproven = self.unproven, None
            await keep_rotated(page.context, self.result.handle, self.store, self.settings, stored)

    async def _setting(self, tab: _Tab, spec: SettingSpec) -> SettingRecord:
        page = tab.page
        record = SettingRecord(setting=spec.id, outcome=SettingOutcome.NOT_FOUND, at=utcnow())
        try:
            landed, tab.landed = tab.landed, None
            record.route = await driver.open_setting(page, spec, self.settings, tab.responses, landed=landed)
            await self._proven(page)
            record.url, record.moved_to = page.url, driver.moved_to(page, spec)
            states = await driver.read_boxes(page, spec, self.settings)
            keys, record.before = list(states), driver.is_on(spec, states)
            record.identified_by = driver.identified_by(page, spec)
            record.observations = [Observation(**o) for o in driver.unknown_controls(page, spec)]
            record.before_screenshot = await self._shot(page, f"before-{spec.id}", spec, keys)
            if self.result.mode is Mode.APPLY and record.before:
                await self._switch_off(tab, spec, record, keys)
            else:
                self._read_only(spec, record)
                if self.result.mode is Mode.APPLY:
                    record.after_screenshot = await self._shot(page, f"after-{spec.id}", spec, keys)
        except driver.SettingNotFound as exc:
            await self._proven(page)  # a page that is not this account's is no evidence of anything
            record.url, record.message, record.seen_labels = exc.url or page.url, str(exc), exc.seen
            record.observations = [Observation(**o) for o in driver.unknown_controls(page, spec)] if exc.seen else []
            record.after_screenshot = await self._shot(page, f"notfound-{spec.id}", None, None)
            record.outline = await self._outline(page, spec)
        finally:
            self._keep_sheets(page)
        if record.moved_to:
            record.message = " ".join(filter(None, [f"X moved this page to {record.moved_to}.", record.message]))
        return record

    async def _outline(self, page: Page, spec: SettingSpec) -> str | None:
        """The page's roles, names and hrefs (no values) as a JSON file a user can attach to a report."""
        try:
            items = await driver.controls.outline(page)
        except PlaywrightError:
            return None
        name = f"outline-{spec.id}.json"
        write_private(self.evidence.dir / name, json.dumps({"url": _url(page), "outline": items}, indent=1,
                                                           ensure_ascii=False).encode())
        return name

    def _keep_sheets(self, page: Page) -> None:
        """Sheets cleared on the way go into the receipt, each with the screenshot taken before. X lays an
        account's sheet over every page until it is answered, so tabs that load at once may each clear the
        same one: the receipt names each sheet once, as a single tab would have met it."""
        for cleared in sheets.log_of(page).drain():
            if any(kept.text == cleared.text for kept in self.sheets):
                continue
            name = f"sheet-{len(self.sheets) + 1}.png"
            if cleared.png:
                write_private(self.evidence.dir / name, cleared.png)
            self.sheets.append(ClearedSheet(text=cleared.text, how=cleared.how,
                                            screenshot=name if cleared.png else None))

    def _read_only(self, spec: SettingSpec, record: SettingRecord) -> None:
        """Off already, or a mode that never clicks: the read came from a freshly loaded page."""
        record.after = record.before
        record.verified_after_reload = True
        if not record.before:
            record.outcome = SettingOutcome.ALREADY_OFF
        elif self.result.mode is Mode.CHECK:
            record.outcome, record.message = SettingOutcome.DRIFT, f"{spec.title} is on."
        else:
            record.outcome, record.message = SettingOutcome.WOULD_TURN_OFF, f"Would switch off {spec.title}."

    async def _switch_off(self, tab: _Tab, spec: SettingSpec, record: SettingRecord, keys: list[str]) -> None:
        page = tab.page
        save = await driver.switch_off(page, spec, self.settings, tab.responses)
        record.api_fields_saved = save.fields
        record.after = await driver.read_state(page, spec, self.settings)
        record.verified_after_reload = True
        record.changed = record.before != record.after
        record.after_screenshot = await self._shot(page, f"after-{spec.id}", spec, keys)
        if record.after:
            record.outcome = SettingOutcome.VERIFY_FAILED
            why = "; ".join(save.problems) or "X accepted the save but the reloaded page shows it on again"
            record.message = f"{spec.title} is still on after a reload ({why})."
        else:
            record.outcome = SettingOutcome.TURNED_OFF

    async def _shot(self, page: Page, name: str, spec: SettingSpec | None, keys: list[str] | None) -> str | None:
        outline = driver.control_locator(page, spec, keys) if spec and keys else None
        try:
            return (await self.evidence.screenshot(page, name, outline=outline)).name
        except PlaywrightError:
            return None

    async def _fail(self, page: Page, outcome: str, message: str, hint: str | None, url: str | None,
                    shot_taken: str | None = None) -> None:
        """The account stops here: say what and where, with a screenshot of that moment (the login's own,
        secrets masked, when it took one)."""
        self.result.outcome = AccountOutcome(outcome)
        self.result.message, self.result.hint = message, hint
        where = url or _url(page)
        if shot_taken and Path(shot_taken).parent == self.evidence.dir:
            shot = Path(shot_taken).name
        else:
            shot = await self._shot(page, f"failure-{self.current or 'login'}", None, None)
        self.failure = Failure(outcome=outcome, message=message, url=where, setting=self.current, screenshot=shot)

    def receipt(self, policy_version: str | None = None) -> Receipt:
        r = self.result
        return Receipt(
            tool_version=__version__, browser_version=self.browser.version, handle=r.handle,
            base_url=self.settings.base_url, mode=r.mode, outcome=r.outcome, message=r.message,
            started_at=r.started_at, finished_at=r.finished_at or utcnow(), settings=self.records,
            failure=self.failure, logged_in=r.logged_in, privacy_policy_version=policy_version,
            sheets_cleared=self.sheets,
        )


def _url(page: Page) -> str | None:
    try:
        return page.url
    except PlaywrightError:
        return None


def _by_page(specs: list[SettingSpec]) -> list[_Group]:
    """The settings grouped by the page that shows them, each with its catalog position, in catalog order."""
    pages: dict[str, _Group] = {}
    for index, spec in enumerate(specs):
        pages.setdefault(spec.path, []).append((index, spec))
    return list(pages.values())


def _account_outcome(mode: Mode, records: list[SettingRecord]) -> AccountOutcome:
    outcomes = {rec.outcome for rec in records}
    if SettingOutcome.VERIFY_FAILED in outcomes:
        return AccountOutcome.VERIFY_FAILED
    if SettingOutcome.NOT_FOUND in outcomes:
        return AccountOutcome.UI_CHANGED
    if SettingOutcome.DRIFT in outcomes:
        return AccountOutcome.DRIFT
    return AccountOutcome.OK
