"""What every command shares: the Typer app, the global options turned into Settings once, the options
several commands take, and how a command ends. Nothing heavy is imported here (see cli/__init__.py)."""

from __future__ import annotations

import sys

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from optout import version_line

if TYPE_CHECKING:
    from optout.config import Settings

app = typer.Typer(
    name="optout",
    help="Opt X accounts out of AI-training data sharing, prove it with evidence, keep it that way.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@dataclass
class AppState:
    """The global options, and whether the command asked for --json (for the error paragraph)."""

    overrides: dict = field(default_factory=dict)
    as_json: bool = False
    _settings: Settings | None = None

    def settings(self, **command_options) -> Settings:
        """The Settings, built once from the global options and the command's own (None: not given)."""
        given = {k: v for k, v in command_options.items() if v is not None}
        if self._settings is None:
            from optout.config import load_settings
            from optout.logs import configure_file_log

            self._settings = load_settings(**{**self.overrides, **given})
            configure_file_log(self._settings)
            _tell_recheck_failure(self._settings)
        elif any(getattr(self._settings, k) != v for k, v in given.items()):
            raise RuntimeError(f"settings already built without {sorted(given)}")  # a bug of ours, not input
        return self._settings


def state(ctx: typer.Context) -> AppState:
    return ctx.obj


def done(code: int) -> None:
    """End a command with its exit code."""
    raise typer.Exit(int(code))


def paragraph(text: str | None) -> str | None:
    """A docstring as one paragraph of help: a wrapped docstring line must not break the help text."""
    return " ".join(text.split()) if text else None


def _tell_recheck_failure(settings: Settings) -> None:
    """A scheduled recheck that could not run is told by the next command, whatever it is."""
    from optout import recheck_failure

    failure = recheck_failure.load(settings)
    if failure is not None:
        print(f"Note: {failure.sentence()} (`optout doctor` shows it until a recheck runs.)", file=sys.stderr)


def command(group: typer.Typer, name: str | None = None):
    """Register a command; its docstring is its help, as one paragraph."""

    def register(fn):
        return group.command(name, help=paragraph(fn.__doc__))(fn)

    return register


def version_option(value: bool) -> None:
    if value:
        print(version_line())
        raise typer.Exit()


def _remember_json(ctx: typer.Context, value: bool) -> bool:
    """--json as parsed (not a look at sys.argv): the error paragraph, too, is JSON then."""
    if value and isinstance(ctx.obj, AppState):
        ctx.obj.as_json = True
    return value


SettingOpt = Annotated[
    Optional[list[str]],
    typer.Option("--setting", "-s", help="A setting id (repeatable); default business-partners and grok-training."),
]
AllOpt = Annotated[bool, typer.Option("--all", help="Every setting in the catalog.")]
OutOpt = Annotated[Optional[Path], typer.Option("--out", help="Evidence folder (default <user data dir>/evidence).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.", callback=_remember_json)]
ConcurrencyOpt = Annotated[Optional[int], typer.Option(
    "--concurrency", "-c", min=1, help="Accounts at once, one browser context each (config: concurrency; default 2).")]
PaceOpt = Annotated[Optional[float], typer.Option(
    "--pace", min=0, help="Seconds between account starts, +/- 50% jitter (config: pace_s; default 0).")]
MaxChallengesOpt = Annotated[Optional[int], typer.Option(
    "--max-challenges", min=0, help="Stop starting accounts after K login challenges in a row; 0: never (default 3).")]
HandleArg = Annotated[str, typer.Argument(help="X handle, e.g. @alice.")]


def pool_options(concurrency: int | None, pace: float | None, max_challenges: int | None) -> dict:
    """The work queue's command-line options as settings names (they beat config.toml and OPTOUT_*)."""
    return {"concurrency": concurrency, "pace_s": pace, "max_challenges": max_challenges}
