"""How results and errors look on a terminal (Rich) or as JSON. The CLI calls these; nothing else prints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from optout.errors import OptoutError
from optout.models import AccountResult

console = Console()
err_console = Console(stderr=True)

OUTCOME_STYLE = {
    "ok": "green",
    "already_off": "green",
    "turned_off": "green",
    "would_turn_off": "yellow",
    "drift": "yellow",
    "needs_human": "yellow",
    "rate_limited": "yellow",
}


def styled(outcome: str) -> str:
    style = OUTCOME_STYLE.get(outcome, "red")
    return f"[{style}]{outcome}[/{style}]"


def on_off(value: bool | None) -> str:
    return "-" if value is None else ("on" if value else "off")


def print_json(payload) -> None:
    """JSON for scripts: pydantic models (or lists of them) as their JSON form, anything else as is."""
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    elif isinstance(payload, Sequence) and not isinstance(payload, str | bytes):
        payload = [p.model_dump(mode="json") if isinstance(p, BaseModel) else p for p in payload]
    print(json.dumps(payload, indent=2, default=str))


def _short_evidence(path: str | None) -> str:
    """<handle>/<timestamp>: the full root is printed once under the table."""
    if not path:
        return "-"
    parts = Path(path).parts
    return "/".join(parts[-2:])


WIDE_ENOUGH_FOR_EVIDENCE = 100  # columns; narrower, the evidence folders go under the table, one a line


def results_table(results: Iterable[AccountResult], title: str | None = None, *, evidence: bool = True) -> Table:
    table = Table(title=title)
    columns = ("account", "setting", "before", "after", "outcome") + (("evidence",) if evidence else ())
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column != "evidence")
    for result in results:
        folder = (_short_evidence(result.evidence_dir),) if evidence else ()
        if not result.settings:
            table.add_row("@" + result.handle, "-", "-", "-", styled(result.outcome), *folder)
        for s in result.settings:
            table.add_row("@" + result.handle, s.setting, on_off(s.before), on_off(s.after), styled(s.outcome), *folder)
    return table


def setting_notes(result: AccountResult) -> list[str]:
    """What a person should know about how X's pages looked: a moved page, a control that was not
    found (with what was there instead), a control optout does not know (news, left untouched)."""
    notes = []
    for s in result.settings:
        if s.moved_to:
            notes.append(f"@{result.handle}: X moved the {s.setting} page to {s.moved_to}; optout found it "
                         "through the menu and will go there directly next time.")
        if s.outcome == "not_found" and s.message:
            notes.append(f"@{result.handle}: {s.setting} not found. {s.message}")
        for o in s.observations:
            notes.append(f"@{result.handle}: X shows a control optout does not know on {o.page}: \u201c{o.label}\u201d "
                         f"({'on' if o.state else 'off'}); optout did not touch it.")
    return notes


def print_results(results: list[AccountResult], *, as_json: bool, title: str | None = None) -> None:
    if as_json:
        print_json(results)
        return
    wide = console.width >= WIDE_ENOUGH_FOR_EVIDENCE
    console.print(results_table(results, title, evidence=wide))
    roots = sorted({str(Path(r.evidence_dir).parent.parent) for r in results if r.evidence_dir})
    if roots:
        console.print(f"Evidence in {', '.join(roots)}" + ("" if wide else ":"), soft_wrap=True, highlight=False)
    for result in results if not wide else ():
        if result.evidence_dir:
            console.print(f"  @{result.handle}: {_short_evidence(result.evidence_dir)}", soft_wrap=True, highlight=False)
    for result in results:
        for note in setting_notes(result):
            console.print(note, soft_wrap=True, highlight=False)
        if result.outcome != "ok":
            line = f"@{result.handle}: {styled(result.outcome)}"
            if result.message:
                line += f" - {result.message}"
            if result.hint:
                line += f" {result.hint}"
            console.print(line)


def print_not_started(handles: list[str]) -> None:
    """Accounts the challenge breaker kept back (to stderr: --json output stays the results list)."""
    if handles:
        err_console.print(f"[red]Not started[/red] ({len(handles)}): {', '.join('@' + h for h in handles)}: several "
                          "logins in a row met a challenge, so no new account was started. Log in to one by hand "
                          "(`optout login --interactive HANDLE`) and try again later.", highlight=False, soft_wrap=True)


def print_error(error: OptoutError, *, as_json: bool = False) -> None:
    if as_json:
        print_json({"error": type(error).__name__, "message": error.message, "hint": error.hint,
                    "exit_code": int(error.exit_code)})
        return
    err_console.print(f"[bold red]Error:[/bold red] {error}", highlight=False, soft_wrap=True)


def print_prune(report, *, as_json: bool) -> None:
    """`optout prune`: what went (or would go), and how much room it made."""
    if as_json:
        print_json({**report.model_dump(mode="json"), "bytes_freed": report.bytes_freed})
        return
    verb = "Would remove" if report.dry_run else "Removed"
    console.print(f"{verb} {len(report.removed)} routine run(s) older than {report.older_than_days:g} day(s) "
                  f"({report.bytes_freed / 1e6:.1f} MB) under {report.root}; kept {report.kept}.",
                  highlight=False, soft_wrap=True)
    for run in report.removed[:20]:
        console.print(f"  @{run.handle}: {Path(run.folder).name}", highlight=False)
    if len(report.removed) > 20:
        console.print(f"  ... and {len(report.removed) - 20} more (--json lists all)")


def print_verify(report, *, as_json: bool) -> None:
    """`optout verify`: every problem by file name, then a one-line verdict."""
    if as_json:
        print_json({**report.model_dump(mode="json"), "ok": report.ok})
        return
    if report.problems:
        table = Table(title=f"Evidence problems under {report.root}")
        table.add_column("file", overflow="fold")
        table.add_column("problem", overflow="fold")
        for p in report.problems:
            table.add_row(p.path, f"[red]{p.problem}[/red]")
        console.print(table)
    for title, notes in (("Interrupted runs (not tampering)", report.interrupted), ("Warnings", report.warnings)):
        if notes:
            table = Table(title=title)
            table.add_column("file", overflow="fold")
            table.add_column("note", overflow="fold")
            for p in notes:
                table.add_row(p.path, f"[yellow]{p.problem}[/yellow]")
            console.print(table)
    verdict = "[green]intact[/green]" if report.ok else "[red]NOT intact[/red]"
    console.print(f"{report.receipts} receipt(s) ({report.signed} signed, {report.unsigned} unsigned), "
                  f"{report.images} image(s) checked under {report.root}: {verdict}"
                  + (f"; {len(report.interrupted)} interrupted" if report.interrupted else ""))


# ---- history, policy, recheck, schedule (issue 5: staying opted out) ----

def print_history(entries, *, as_json: bool, recheck_failure=None) -> None:
    """`optout history`: one row per account per run, newest first; above them a recheck that could not
    run (in --json it is on stderr only, with every command's note, so the list keeps its shape)."""
    if as_json:
        print_json(entries)
        return
    if recheck_failure is not None:
        console.print(f"[bold red]{escape(recheck_failure.sentence())}[/bold red]", highlight=False)
    if not entries:
        console.print("No runs recorded yet.")
        return
    table = Table(title="optout history")
    for column in ("when (UTC)", "run", "command", "account", "outcome", "settings", "login", "evidence"):
        table.add_column(column, overflow="fold")
    for e in entries:
        settings = ", ".join(f"{s.setting}: {styled(s.outcome)}" for s in e.settings) or "-"
        table.add_row(f"{e.finished_at:%Y-%m-%d %H:%M}", str(e.run_id), e.command, "@" + e.handle,
                      styled(e.outcome), settings, "fresh" if e.logged_in else "reused", e.evidence_dir or "-")
    console.print(table)


def print_policy(check, *, as_json: bool) -> None:
    """`optout policy`: the current version, when it was first seen, and whether it is new."""
    if as_json:
        print_json(check)
        return
    current = check.current
    console.print(f"X privacy policy: effective [bold]{current.effective_label}[/bold]", highlight=False)
    console.print(f"  first seen {current.first_seen:%Y-%m-%d %H:%M} UTC, last checked "
                  f"{current.last_seen:%Y-%m-%d %H:%M} UTC", highlight=False)
    console.print(f"  sha256 {current.text_hash}  ({len(current.text)} characters)  {current.url}", highlight=False)
    if check.new_version:
        console.print(f"  [yellow]New version[/yellow] (was effective {check.previous.effective_label}): "
                      "see `optout policy diff`.", highlight=False)
    elif check.first_reading:
        console.print("  First reading: later changes will be detected against this one.")


def print_policy_diff(diff, *, as_json: bool) -> None:
    if as_json:
        print_json(diff or {"diff": None, "message": "Fewer than two policy versions are recorded."})
        return
    if diff is None:
        console.print("Only one version of the policy has been seen so far: nothing to compare.")
        return
    for line in diff.summary:
        console.print(line, highlight=False)
    console.print()
    for line in diff.unified.splitlines():
        style = "green" if line.startswith("+") else "red" if line.startswith("-") else "dim" if line.startswith("@@") else ""
        console.print(f"[{style}]{escape(line)}[/{style}]" if style else escape(line), highlight=False, soft_wrap=True)


def print_recheck(report, *, as_json: bool) -> None:
    """`optout recheck`: the policy's state, the accounts' table, and what was notified."""
    if as_json:
        print_json(report)
        return
    if report.policy_error:
        console.print(f"[red]Policy: {escape(report.policy_error)}[/red]", highlight=False)
    elif report.policy_changed:
        console.print(f"[yellow]X's privacy policy changed[/yellow] (effective "
                      f"{report.policy_diff.new.effective_label}; was {report.policy_diff.old.effective_label}):",
                      highlight=False)
        for line in report.policy_diff.summary:
            console.print("  " + line, highlight=False)
        console.print(escape(report.policy_diff.unified), highlight=False, soft_wrap=True)
    elif report.policy and report.policy_baseline:
        console.print(f"Policy unchanged: effective {report.policy.current.effective_label}.", highlight=False)
    elif report.policy:
        console.print(f"Policy recorded: effective {report.policy.current.effective_label} (the first reading; "
                      "later rechecks compare with it).", highlight=False)
    if report.skipped:
        console.print("No account touched: the policy has not changed since the last recheck.")
    else:
        print_results(report.results, as_json=False, title="optout recheck")
    if report.not_started:
        console.print(f"[red]Not checked[/red] ({len(report.not_started)}): "
                      f"{', '.join('@' + h for h in report.not_started)}: several logins in a row met a challenge, "
                      "so no new account was started. Log in to one by hand (`optout login --interactive HANDLE`) "
                      "and re-check later.", highlight=False, soft_wrap=True)
    if report.notification:
        sent = report.delivery and report.delivery.sent
        where = f"to {report.delivery.targets} target(s)" if report.delivery and report.delivery.targets else \
            "(no notify_urls configured)"
        console.print(f"Notification {'sent' if sent else 'NOT sent'} {where}: {escape(report.notification.title)}",
                      highlight=False)


def print_schedule(plan_or_status, *, as_json: bool, dry_run: bool = False, removed: bool = False) -> None:
    """`optout schedule install|status|remove`: what is (or would be) in place, or what was removed."""
    if as_json:
        print_json({**plan_or_status.model_dump(mode="json"), **({"removed": removed} if removed else {})})
        return
    data = plan_or_status
    if removed:
        console.print(f"Removed the {data.backend} schedule: {escape(data.entry or '')}" if data.installed
                      else "No optout schedule was installed; nothing removed.", highlight=False, soft_wrap=True)
        return
    if hasattr(data, "argv"):  # an install plan
        verb = "Would install" if dry_run else "Installed"
        console.print(f"{verb} a {data.backend} schedule (cron: {data.cron}) running: "
                      f"{' '.join(data.argv)}", highlight=False, soft_wrap=True)
        for path, content in data.files.items():
            console.print(f"[bold]{path}[/bold]", highlight=False)
            if dry_run:
                console.print(escape(content), highlight=False, soft_wrap=True)
        if data.crontab_line:
            console.print(f"crontab line: {escape(data.crontab_line)}", highlight=False, soft_wrap=True)
        for command in data.commands:
            console.print(("would run: " if dry_run else "ran: ") + escape(" ".join(command)), highlight=False,
                          soft_wrap=True)
        for note in data.notes:
            console.print(note, highlight=False, soft_wrap=True)
        return
    if data.installed:
        console.print(f"Scheduled with {data.backend} (cron: {data.cron}); next run about "
                      f"{data.next_run:%Y-%m-%d %H:%M %Z}.", highlight=False)
        console.print(f"  entry: {escape(data.entry or '-')}", highlight=False, soft_wrap=True)
    else:
        console.print("No optout schedule is installed.")
    console.print(f"  logs: {data.log_dir}", highlight=False)
    for note in data.notes:
        console.print("  " + note, highlight=False)


# ---- accounts, login, doctor (issue 3) ----

def _yes(flag: bool) -> str:
    return "[green]yes[/green]" if flag else "-"


def print_accounts(accounts, *, as_json: bool) -> None:
    """What is stored per account (never a value)."""
    if as_json:
        print_json(accounts)
        return
    if not accounts:
        console.print("No accounts stored. Add one with `optout accounts add HANDLE`.")
        return
    table = Table(title="Stored accounts (values are never shown)")
    for column in ("account", "password", "TOTP", "username", "phone", "email", "session", "session saved"):
        table.add_column(column)
    for a in accounts:
        saved = a.session_saved.strftime("%Y-%m-%d %H:%M UTC") if a.session_saved else "-"
        table.add_row("@" + a.handle, _yes(a.password), _yes(a.totp), _yes(a.username), _yes(a.phone),
                      _yes(a.email), _yes(a.session), saved)
    console.print(table)


def print_message(message: str, *, as_json: bool, **payload) -> None:
    """A one-line result; with --json, the payload (never a secret) plus the message."""
    if as_json:
        print_json({**payload, "message": message})
        return
    console.print(message, highlight=False)


def print_login(report, *, as_json: bool) -> None:
    if as_json:
        print_json(report)
        return
    how = "logged in" + (" (in the visible browser)" if report.interactive else "") if report.fresh_login \
        else "stored session still alive: no login needed"
    console.print(f"@{report.handle}: {how}; session stored in the keyring.", highlight=False)


def print_doctor(report, *, as_json: bool) -> None:
    if as_json:
        print_json({"ok": report.ok, "checks": [c.model_dump() for c in report.checks]})
        return
    for c in report.checks:
        mark = "[green]OK[/green]  " if c.ok else ("[red]FAIL[/red]" if c.required else "[yellow]WARN[/yellow]")
        console.print(f"{mark} {c.name}: {c.detail}", highlight=False, soft_wrap=True)
        if not c.ok and c.fix:
            console.print(f"      to fix: {c.fix}", highlight=False, soft_wrap=True)
