"""How a batch looks on a terminal: a live progress bar with counts per outcome (stderr, only when stderr
is a terminal and --json is off), then a summary of counts and, for every account that is not ok, what
to do about it. The batch itself (batch.py) only calls the observer methods."""

from __future__ import annotations

import shlex
from collections import Counter
from datetime import datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from optout.work_queue import AccountJob
from optout.accounts_import import ImportReport
from optout.batch import BatchReport
from optout.models import AccountResult
from optout.render import console, err_console, print_json, styled


class BatchProgress:
    """The observer the work queue reports to (batch and recheck); a no-op display when stderr is not a
    terminal."""

    def __init__(self, *, enabled: bool, stream: Console = err_console, label: str = "batch") -> None:
        self.console = stream
        self.enabled = enabled and stream.is_terminal
        self.counts: Counter[str] = Counter()
        self.progress = Progress(
            SpinnerColumn(), TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.description}"), TimeElapsedColumn(), console=stream, transient=True,
            disable=not self.enabled,
        )
        self.task = self.progress.add_task("", total=None)

    def __enter__(self) -> BatchProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def begin(self, total: int) -> None:
        self.progress.update(self.task, total=total)

    def started(self, entry: AccountJob, attempt: int) -> None:
        pass

    def finished(self, result: AccountResult) -> None:
        self.counts[str(result.outcome)] += 1
        text = "  ".join(f"{styled(k)} {v}" for k, v in sorted(self.counts.items()))
        self.progress.update(self.task, advance=1, description=text)

    def notice(self, message: str) -> None:
        """Rate limits and the challenge breaker are worth a line even without the bar."""
        self.console.print(f"[yellow]{message}[/yellow]", highlight=False, soft_wrap=True)


def what_to_do(result: AccountResult, report: BatchReport) -> str:
    h = result.handle
    resume = f"optout batch {shlex.quote(report.file)} --resume" + (f" --shard {report.shard}" if report.shard else "")
    advice = {
        "needs_human": f"X wants a person: `optout login --interactive {h}`, then `optout run {h}`.",
        "login_failed": f"X refused the password: fix it with `optout accounts add {h}`.",
        "rate_limited": f"X rate-limited this account: `{resume}` later" + _after(result.rate_limit_reset) + ".",
        "ui_changed": "X's page looked different: see the screenshot in the evidence folder and update optout.",
        "verify_failed": f"A setting was still on after a reload: check the evidence, then `optout run {h}` later.",
        "drift": f"A setting is on: `optout run {h}` (or the batch without --check-only) switches it off.",
    }
    return advice.get(str(result.outcome), f"See the message and the evidence; then `optout run {h}`.")


def _after(reset: float | None) -> str:
    return f" (after {datetime.fromtimestamp(reset).strftime('%H:%M')})" if reset else ""


def print_batch(report: BatchReport, *, as_json: bool) -> None:
    if as_json:
        print_json({**report.model_dump(mode="json"), "counts": report.counts})
        return
    title = f"batch run {report.run_id}: {report.file}" + (f" (shard {report.shard})" if report.shard else "")
    counts = Table(title=title)
    counts.add_column("outcome")
    counts.add_column("accounts", justify="right")
    for outcome, n in sorted(report.counts.items()):
        counts.add_row(styled(outcome), str(n))
    console.print(counts)
    if report.done_before:
        console.print(f"{len(report.done_before)} account(s) were done by an earlier part of this run.")
    failed = [r for r in report.results if str(r.outcome) != "ok"]
    if failed:
        table = Table(title="accounts that need attention")
        for column in ("account", "outcome", "what happened", "what to do"):
            table.add_column(column, overflow="fold")
        for r in failed:
            table.add_row("@" + r.handle, styled(r.outcome), r.message or "-", what_to_do(r, report))
        console.print(table)
    _print_stop_reasons(report)
    if report.report_path:
        console.print(f"Report: {report.report_path}", highlight=False, soft_wrap=True)


def _print_stop_reasons(report: BatchReport) -> None:
    if report.breaker_opened:
        console.print(
            f"[bold yellow]Stopped starting new logins after {report.max_challenges} login challenges in a row: "
            "X seems to be blocking logins from this machine.[/bold yellow] "
            f"{len(report.not_started)} account(s) were not started. Wait some hours (or use another network), "
            f"then `optout batch {shlex.quote(report.file)} --resume` does only those.",
            soft_wrap=True,
        )
    if report.rate_limit_waits:
        console.print(f"X rate-limited the batch {report.rate_limit_waits} time(s); the pace went up to one account "
                      f"every {report.final_pace_s:.0f} s.")


def print_import(report: ImportReport, *, as_json: bool) -> None:
    """Handles only; and the one thing to do next: get rid of the plaintext file."""
    advice = (f"Now delete {report.plaintext_file}: it holds passwords in plain text "
              f"(e.g. `shred -u {shlex.quote(str(report.plaintext_file))}`)." if report.plaintext_file
              else "Delete wherever the piped CSV came from: it holds passwords in plain text.")
    if as_json:
        print_json({**report.model_dump(mode="json"), "message": advice})
        return
    handles = ", ".join("@" + h for h in report.imported)
    console.print(f"Stored {len(report.imported)} account(s) in the keyring ({len(report.with_totp)} with a TOTP "
                  f"secret): {handles}.", highlight=False, soft_wrap=True)
    console.print(f"[bold yellow]{advice}[/bold yellow]", highlight=False, soft_wrap=True)
