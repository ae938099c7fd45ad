"""The command line: parse, call, render. No logic lives here: each command calls one function of the
package and renders what it returns. The commands live by domain:
- evidence.py: run, check, verify, report, prune (the opt-out itself and its proof);
- batch.py: batch (many accounts from a file);
- staying.py: history, policy, recheck, schedule (staying opted out);
- accounts.py: accounts, session, login, logout, doctor (secrets in the OS keyring, this machine).

Start-up stays light: `optout --help` and `--version` import no settings, browser, keyring or database
code; each command imports what it needs when it runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from optout.cli.common import AppState, app, version_option
from optout.errors import OptoutError
from optout.stop_signal import TERMINATED_EXIT_CODE, sigterm_as_ctrl_c, terminated

# Importing a domain module registers its commands; `optout --help` lists them in this order.
from optout.cli import evidence  # noqa: E402,F401  isort:skip
from optout.cli import batch  # noqa: E402,F401  isort:skip
from optout.cli import staying  # noqa: E402,F401  isort:skip
from optout.cli import accounts  # noqa: E402,F401  isort:skip

__all__ = ["app", "main"]


@app.callback()
def root(
    ctx: typer.Context,
    base_url: Annotated[Optional[str], typer.Option(help="X's address; the replica's for tests. Env OPTOUT_BASE_URL.")] = None,
    browser: Annotated[Optional[Path], typer.Option(help="Chromium/Chrome executable. Env OPTOUT_BROWSER.")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    browser_endpoint: Annotated[Optional[str], typer.Option("--browser-endpoint", help="ws:// Playwright server or http:// Chrome DevTools endpoint to use instead of launching a browser.")] = None,
    use_browser_session: Annotated[bool, typer.Option("--use-browser-session", help="With an http:// --browser-endpoint: work in that Chrome's own logged-in window (one account; your tabs are left alone).")] = False,
    proxy: Annotated[Optional[str], typer.Option("--proxy", help="scheme://host:port, or scheme://user@host:port, for every account's traffic (a user's password: `optout proxy password`).")] = None,
    version: Annotated[bool, typer.Option("--version", callback=version_option, is_eager=True, help="Print the version.")] = False,
) -> None:
    if not isinstance(ctx.obj, AppState):  # called through `app` directly rather than main()
        ctx.obj = AppState()
    ctx.obj.overrides.update(base_url=base_url, browser_path=browser, headless=False if headed else None,
                             browser_endpoint=browser_endpoint, use_browser_session=use_browser_session or None,
                             proxy=proxy)


def main() -> None:
    """Entry point: one place turns expected failures into a paragraph and an exit code.
    Commands end with `raise typer.Exit(code)`; usage errors exit 2 through Typer itself."""
    state = AppState()
    with sigterm_as_ctrl_c():
        try:
            app(obj=state)
        except OptoutError as error:
            from optout.render import print_error

            print_error(error, as_json=state.as_json)
            sys.exit(TERMINATED_EXIT_CODE if terminated() else int(error.exit_code))
        except SystemExit:
            if terminated():
                sys.exit(TERMINATED_EXIT_CODE)
            raise
