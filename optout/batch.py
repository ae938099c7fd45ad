"""Batch mode: many accounts from a file through optout.orchestrator.run_accounts, at most N at once in
one browser (one isolated context each), through the work queue (optout/work_queue.py: pacing,
rate-limit retries, the challenge breaker), and resumable.

Every finished account is written to the history and committed at once, so a batch killed at any moment
loses nothing finished and `--resume` does only the rest; accounts left by the challenge breaker or a
rate limit stay unfinished for `--resume`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field

from optout import catalog
from optout.accounts_file import AccountEntry, load_accounts
from optout.config import Settings
from optout.credentials import CredentialStore
from optout.errors import BadInput, ExitCode, OptoutError
from optout.models import AccountOutcome, AccountResult, Mode, overall_exit_code
from optout.orchestrator import AccountsOutcome, open_history, run_accounts
from optout.report import build_report
from optout.shard import parse_shard
from optout.store import Store
from optout.work_queue import AccountJob, BatchObserver, Pacing, QuietObserver

# Outcomes worth another try later (`--resume`): everything else is final for this batch.
RETRYABLE_OUTCOMES = frozenset({AccountOutcome.RATE_LIMITED})

RUN_META = "batch.run.{run_id}"  # JSON: the batch's file, shard, mode and settings, for --resume
OPEN_META = "batch.open.{identity}"  # the run id of the unfinished batch of this file and shard


class BatchRequest(BaseModel):
    """Everything `optout batch` was asked to do."""

    file: Path
    mode: Mode = Mode.APPLY
    setting_ids: list[str] = Field(default_factory=list)  # --setting; empty: the default set
    all_settings: bool = False
    shard: str | None = None  # "I/N"
    resume: bool = False
    run_id: int | None = None  # resume this run rather than the latest unfinished one of the file
    concurrency: int = 2
    pace_s: float = 0.0
    max_challenges: int = 3
    report_file: Path | None = None  # an HTML report of the whole batch


class BatchReport(BaseModel):
    """The whole batch (earlier parts of a resumed run included), as the summary and --json show it."""

    run_id: int
    file: str
    shard: str | None = None
    mode: Mode
    resumed: bool = False
    results: list[AccountResult]  # one per account with a result, in file order
    done_before: list[str] = Field(default_factory=list)  # finished by an earlier part of this run
    not_started: list[str] = Field(default_factory=list)  # left for --resume (challenge breaker)
    breaker_opened: bool = False
    max_challenges: int = 3
    rate_limit_waits: int = 0
    final_pace_s: float = 0.0
    finished: bool = False  # nothing is left for --resume
    report_path: str | None = None  # the HTML report, when --report was given
    exit_code: int = 0

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.results:
            counts[str(r.outcome)] = counts.get(str(r.outcome), 0) + 1
        if self.not_started:
            counts["not_started"] = len(self.not_started)
        return counts


@dataclass
class _Plan:
    entries: list[AccountEntry]
    default_ids: list[str]
    identity: str
    params: dict


def plan_batch(request: BatchRequest) -> _Plan:
    """Read and check the file and options; raise BadInput before anything runs."""
    accounts = load_accounts(request.file)
    entries = accounts.accounts
    if request.shard:
        entries = parse_shard(request.shard).select(entries)
    default_ids = [s.id for s in catalog.select(request.setting_ids or None, everything=request.all_settings)]
    if request.concurrency < 1 or request.pace_s < 0 or request.max_challenges < 0:
        raise BadInput("--concurrency must be at least 1, --pace and --max-challenges at least 0.")
    identity = f"{request.file.resolve()}|{request.shard or 'all'}"
    params = {"file": str(request.file.resolve()), "shard": request.shard, "mode": str(request.mode),
              "setting_ids": default_ids}
    return _Plan(entries, default_ids, identity, params)


def check_keyring(credentials: CredentialStore, entries: Sequence[AccountEntry]) -> None:
    """Fail before the browser starts when any account has no password in the keyring."""
    missing = [e.key for e in entries if not credentials.has(e.key)]
    if missing:
        shown = ", ".join("@" + h for h in missing[:50]) + (f" and {len(missing) - 50} more" if len(missing) > 50 else "")
        raise BadInput(
            f"{len(missing)} account(s) of the batch have no password in the keyring: {shown}. Nothing was run.",
            hint="Add them with `optout accounts import CREDENTIALS.csv` (handle,password[,totp]) or "
            "`optout accounts add HANDLE`.",
        )


def run_batch(settings: Settings, request: BatchRequest, *, observer: BatchObserver | None = None) -> BatchReport:
    """The `optout batch` command: plan, check the keyring, then run (or resume) under the run lock."""
    if settings.use_browser_session:
        raise BadInput("batch refuses --use-browser-session: each account of a batch gets its own clean browser "
                       "context, never the user's.", hint="Use `optout run HANDLE --use-browser-session` for one account.")
    plan = plan_batch(request)
    credentials = CredentialStore(settings)
    check_keyring(credentials, plan.entries)
    with open_history(settings, "batch") as store:
        run_id, earlier = _open_run(store, settings, request, plan)
        try:
            return asyncio.run(_run(settings, request, plan, store, credentials, run_id, earlier, observer))
        except KeyboardInterrupt:
            raise BatchInterrupted(
                f"Batch run {run_id} was interrupted. Every account that finished is saved in the history (one "
                "stopped at its very end has a receipt but no history row, and --resume does it again).",
                hint="Run the same command with --resume to do the rest.",
            ) from None


class BatchInterrupted(OptoutError):
    """Ctrl-C: not a failure of any account, and nothing finished is lost."""

    exit_code = ExitCode.FAILED


def _open_run(store: Store, settings: Settings, request: BatchRequest, plan: _Plan) -> tuple[int, list[AccountResult]]:
    """A new run, or the one being resumed with the results it already has."""
    open_key = OPEN_META.format(identity=plan.identity)
    if not (request.resume or request.run_id):
        run_id = store.start_run("batch", settings.base_url)
        store.set_meta(RUN_META.format(run_id=run_id), json.dumps(plan.params))
        store.set_meta(open_key, str(run_id))
        return run_id, []
    run_id = request.run_id or int(store.get_meta(open_key) or 0)
    stored = json.loads(store.get_meta(RUN_META.format(run_id=run_id)) or "null") if run_id else None
    if not stored:
        raise BadInput(
            f"There is no unfinished batch of {request.file}" + (f" with --shard {request.shard}" if request.shard else "")
            + (f" with run id {request.run_id}" if request.run_id else "") + " to resume.",
            hint="Start it without --resume; `optout history` lists earlier runs.",
        )
    if stored["file"] != plan.params["file"] or stored["shard"] != plan.params["shard"]:
        raise BadInput(f"Run {run_id} was a batch of {stored['file']} (shard {stored['shard'] or 'all'}), not of this file and shard.")
    if stored["mode"] != plan.params["mode"] or stored["setting_ids"] != plan.params["setting_ids"]:
        raise BadInput(
            f"Run {run_id} was started in {stored['mode']} mode for {', '.join(stored['setting_ids'])}; "
            "--resume continues it the same way.",
            hint="Give --resume the same --check-only/--setting/--all options as the run it continues.",
        )
    if (run := store.run(run_id)) is not None and run.finished_at is not None:
        raise BadInput(f"Batch run {run_id} already finished: every account has a final result.",
                       hint="Start a new batch without --resume to do the accounts again.")
    return run_id, store.run_results(run_id)


async def _run(settings: Settings, request: BatchRequest, plan: _Plan, store: Store, credentials: CredentialStore,
               run_id: int, earlier: list[AccountResult], observer: BatchObserver | None) -> BatchReport:
    final_before = {r.handle: r for r in earlier if r.outcome not in RETRYABLE_OUTCOMES}
    todo = [e for e in plan.entries if e.key not in final_before]
    pacing = Pacing(concurrency=request.concurrency, pace_s=request.pace_s, max_challenges=request.max_challenges,
                    rate_limit_max_wait_s=settings.rate_limit_max_wait_s, slow_pace_s=settings.rate_limit_slow_pace_s)
    observer = observer or QuietObserver()
    observer.begin(len(plan.entries))
    if final_before:
        observer.notice(f"Resuming batch run {run_id}: {len(final_before)} account(s) already done, {len(todo)} to go.")
    for result in final_before.values():
        observer.finished(result)
    scheduled = AccountsOutcome()
    if todo:
        mode = Mode(plan.params["mode"])
        jobs = [AccountJob(e.handle, tuple(e.settings) if e.settings is not None else tuple(plan.default_ids),
                           proxy=e.proxy) for e in todo]
        scheduled = await run_accounts(settings, jobs, mode=mode, history=store, run_id=run_id, pacing=pacing,
                                       credentials=credentials, observer=observer)
    report = _report(request, plan, run_id, final_before, scheduled, pacing)
    if request.report_file:
        receipts = [Path(r.receipt) for r in report.results if r.receipt and Path(r.receipt).is_file()]
        title = f"optout batch run {run_id}: {request.file.name}" + (f" (shard {request.shard})" if request.shard else "")
        report.report_path = str(build_report(receipts, request.report_file, title=title,
                                              recorded=store.receipt_hashes()))
    if report.finished:
        store.finish_run(run_id, report.exit_code)
        store.set_meta(OPEN_META.format(identity=plan.identity), "0")
    return report


def _report(request: BatchRequest, plan: _Plan, run_id: int, final_before: dict[str, AccountResult],
            scheduled: AccountsOutcome, pacing: Pacing) -> BatchReport:
    by_handle = {**final_before, **{r.handle: r for r in scheduled.results}}
    results = [by_handle[e.key] for e in plan.entries if e.key in by_handle]
    exit_code = overall_exit_code(results)
    if exit_code == ExitCode.OK and (scheduled.not_started or len(results) < len(plan.entries)):
        exit_code = ExitCode.FAILED
    leftover = scheduled.not_started or any(r.outcome in RETRYABLE_OUTCOMES for r in results)
    return BatchReport(
        run_id=run_id, file=str(request.file), shard=request.shard, mode=Mode(plan.params["mode"]),
        resumed=bool(final_before) or request.resume or bool(request.run_id), results=results,
        done_before=[h for h in (e.key for e in plan.entries) if h in final_before],
        not_started=scheduled.not_started, breaker_opened=scheduled.breaker_opened,
        max_challenges=pacing.max_challenges, rate_limit_waits=scheduled.rate_limit_waits,
        final_pace_s=scheduled.final_pace_s, finished=not leftover and len(results) == len(plan.entries),
        exit_code=int(exit_code),
    )
