"""How results and errors look on a terminal (Rich) or as JSON. The CLI calls these; nothing else prints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from pydantic import BaseModel
from rich.console import Console
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


def results_table(results: Iterable[AccountResult], title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("account", "setting", "before", "after", "outcome", "evidence"):
        table.add_column(column, overflow="fold")
    for result in results:
        if not result.settings:
            table.add_row("@" + result.handle, "-", "-", "-", styled(result.outcome), result.evidence_dir or "-")
        for s in result.settings:
            table.add_row(
                "@" + result.handle, s.setting, on_off(s.before), on_off(s.after), styled(s.outcome),
                result.evidence_dir or "-",
            )
    return table


def print_results(results: list[AccountResult], *, as_json: bool, title: str | None = None) -> None:
    if as_json:
        print_json(results)
        return
    console.print(results_table(results, title))
    for result in results:
        if result.outcome != "ok":
            line = f"@{result.handle}: {styled(result.outcome)}"
            if result.message:
                line += f" - {result.message}"
            if result.hint:
                line += f" {result.hint}"
            console.print(line)


def print_error(error: OptoutError, *, as_json: bool = False) -> None:
    if as_json:
        print_json({"error": type(error).__name__, "message": error.message, "hint": error.hint,
                    "exit_code": int(error.exit_code)})
        return
    err_console.print(f"[bold red]Error:[/bold red] {error}", highlight=False, soft_wrap=True)
