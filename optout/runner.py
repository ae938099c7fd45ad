"""The one work function: one account, one fresh browser context, every setting asked for, evidence and
a receipt. run, check, recheck and batch all reach it through optout.orchestrator.run_accounts; none of
them re-implements a step.

It never raises for a failure of the account (bad password, captcha, rate limit, changed page): those
become the result's outcome, with a receipt and a screenshot of where it stopped. Only problems of the
machine itself (no keyring, browser gone) propagate.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from optout import __version__, catalog
from optout.browser import BrowserSession
from optout.catalog import SettingSpec
from optout.config import Settings
from optout.credentials import CredentialStore, normalize_handle
from optout.errors import AccountFailure, BadInput, EnvironmentProblem, OptoutError, first_line
from optout.evidence import ClearedSheet, EvidenceRun, Failure, Receipt, SettingRecord, sha256_file
from optout.files import write_private
from optout.models import AccountOutcome, AccountResult, Mode, Observation, SettingOutcome, utcnow
from optout.prompts import Prompter
from optout.proxy import parse_proxy
from optout.x import settings as driver
from optout.x import sheets
from optout.x.login import ensure_session
from optout.x.login.session import ensure_browser_session
from optout.x.responses import XResponses

log = logging.getLogger(__name__)


async def run_account(
    browser: BrowserSession,
    handle: str,
    settings: Settings,
    *,
    mode: Mode,
    setting_ids: Sequence[str] | None = None,
    store: CredentialStore,
    prompter: Prompter | None = None,
    policy_version: str | None = None,
    proxy: str | None = None,
) -> AccountResult:
    """Log in (or reuse the saved session), then read, and in apply mode switch off, each setting.
    `policy_version` (effective date and text hash of X's privacy policy, as the command read it when it
    started) goes into the receipt, so evidence says which policy the opt-out answered."""
    handle = normalize_handle(handle)
    specs = catalog.select(list(setting_ids) if setting_ids else None)
    evidence = EvidenceRun(settings.evidence_root, handle, credentials=store, tsa_url=settings.tsa_url)
    result = AccountResult(handle=handle, mode=mode, outcome=AccountOutcome.OK, started_at=evidence.started_at,
                           evidence_dir=str(evidence.dir))
    job = _AccountJob(browser, settings, store, prompter, evidence, result)
    try:
        option = _proxy_option(proxy or settings.proxy, store)
    except BadInput as exc:  # this account's proxy cannot be used: the account fails, the batch goes on
        result.outcome, result.message, result.hint = AccountOutcome.ERROR, exc.message, exc.hint
        job.failure = Failure(outcome=AccountOutcome.ERROR, message=exc.message)
    else:
        async with browser.account_context(proxy=option) as context:
            await _run_job(job, evidence, context, specs, policy_version)
    result.finished_at = utcnow()
    receipt = evidence.write_receipt(job.receipt(policy_version))
    result.receipt, result.receipt_sha256 = str(receipt), sha256_file(receipt)
    return result


def _proxy_option(url: str | None, store: CredentialStore) -> dict | None:
    """Playwright's proxy option for the account (its password from the keyring), or None."""
    return parse_proxy(url).playwright(store.proxy_password) if url else None


async def _run_job(job: _AccountJob, evidence: EvidenceRun, context: BrowserContext, specs: list[SettingSpec],
                   policy_version: str | None) -> None:
    try:
        await job.run(context, specs)
    except BaseException as exc:  # Ctrl-C, a full disk, the browser gone: commit what was done, marked
        evidence.write_interrupted(job.receipt(policy_version), exc)
        raise


class _AccountJob:
    """The state of one account's run, so each step stays a short method."""

    def __init__(self, browser, settings, store, prompter, evidence: EvidenceRun, result: AccountResult):
        self.browser, self.settings, self.store, self.prompter = browser, settings, store, prompter
        self.evidence, self.result = evidence, result
        self.records: list[SettingRecord] = []
        self.failure: Failure | None = None
        self.current: str | None = None  # the setting being worked on, for the failure record
        self.responses: XResponses | None = None  # the account page's watcher of X's answers
        self.sheets: list[ClearedSheet] = []

    async def run(self, context: BrowserContext, specs: list[SettingSpec]) -> None:
        page = await context.new_page()
        self.responses = XResponses(page)  # X's answers on this page, for the login and the settings
        try:
            await self._login(context, page)
            for spec in specs:
                self.current = spec.id
                self.records.append(await self._setting_with_relogin(context, page, spec))
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
            self.result.settings = list(self.records)

    async def _login(self, context: BrowserContext, page: Page) -> None:
        if self.settings.use_browser_session:
            await ensure_browser_session(page, self.result.handle, self.settings, self.responses)
            return
        self.result.logged_in = await ensure_session(
            context, page, self.result.handle, self.store, self.settings,
            responses=self.responses, prompter=self.prompter, shots_dir=self.evidence.dir,
        ) or self.result.logged_in

    async def _setting_with_relogin(self, context: BrowserContext, page: Page, spec: SettingSpec) -> SettingRecord:
        """A session that dies mid-run (X logged it out) gets one fresh login, then the setting again."""
        try:
            return await self._setting(page, spec)
        except driver.SessionLost:
            await self._login(context, page)
            return await self._setting(page, spec)

    async def _setting(self, page: Page, spec: SettingSpec) -> SettingRecord:
        record = SettingRecord(setting=spec.id, outcome=SettingOutcome.NOT_FOUND, at=utcnow())
        try:
            record.route = await driver.open_setting(page, spec, self.settings, self.responses)
            record.url, record.moved_to = page.url, driver.moved_to(page, spec)
            states = await driver.read_boxes(page, spec, self.settings)
            keys, record.before = list(states), driver.is_on(spec, states)
            record.identified_by = driver.identified_by(page, spec)
            record.observations = [Observation(**o) for o in driver.unknown_controls(page, spec)]
            record.before_screenshot = await self._shot(page, f"before-{spec.id}", spec, keys)
            if self.result.mode is Mode.APPLY and record.before:
                await self._switch_off(page, spec, record, keys)
            else:
                self._read_only(spec, record)
                if self.result.mode is Mode.APPLY:
                    record.after_screenshot = await self._shot(page, f"after-{spec.id}", spec, keys)
        except driver.SettingNotFound as exc:
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
        """Sheets cleared on the way go into the receipt, each with the screenshot taken before."""
        for cleared in sheets.log_of(page).drain():
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

    async def _switch_off(self, page: Page, spec: SettingSpec, record: SettingRecord, keys: list[str]) -> None:
        save = await driver.switch_off(page, spec, self.settings, self.responses)
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


def _account_outcome(mode: Mode, records: list[SettingRecord]) -> AccountOutcome:
    outcomes = {rec.outcome for rec in records}
    if SettingOutcome.VERIFY_FAILED in outcomes:
        return AccountOutcome.VERIFY_FAILED
    if SettingOutcome.NOT_FOUND in outcomes:
        return AccountOutcome.UI_CHANGED
    if SettingOutcome.DRIFT in outcomes:
        return AccountOutcome.DRIFT
    return AccountOutcome.OK
