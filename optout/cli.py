"""The command line: parse, call, render. No logic lives here; every command calls one function of the
package and renders what it returns."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

from optout import __version__
from optout.config import Settings, load_settings
from optout.errors import OptoutError
from optout.render import print_error

app = typer.Typer(
    name="optout",
    help="Opt X accounts out of AI-training data sharing, prove it with evidence, keep it that way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class AppState:
    """Global options, turned into Settings only when a command needs them."""

    overrides: dict = field(default_factory=dict)
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(**self.overrides)
        return self._settings


def _version(value: bool) -> None:
    if value:
        print(f"optout {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    base_url: Annotated[Optional[str], typer.Option(help="X's address; the replica's for tests. Env OPTOUT_BASE_URL.")] = None,
    browser: Annotated[Optional[Path], typer.Option(help="Chromium/Chrome executable. Env OPTOUT_BROWSER.")] = None,
    headed: Annotated[bool, typer.Option("--headed", help="Show the browser window.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    ctx.obj = AppState({"base_url": base_url, "browser_path": browser, "headless": False if headed else None})


def state(ctx: typer.Context) -> AppState:
    return ctx.obj


def main() -> None:
    """Entry point: one place turns expected failures into a paragraph and an exit code.
    Commands end with `raise typer.Exit(code)`; usage errors exit 2 through Typer itself."""
    as_json = "--json" in sys.argv
    try:
        app()
    except OptoutError as error:
        print_error(error, as_json=as_json)
        sys.exit(int(error.exit_code))


def done(code: int) -> None:
    """End a command with its exit code."""
    raise typer.Exit(int(code))


if __name__ == "__main__":
    main()
