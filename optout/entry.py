"""The `optout` command's entry point (console script and `python -m optout`). It imports nothing
before it knows it must: `optout --version` alone answers here, before Typer and the command tree
load, in about a third of the time that took (docs/benchmarks.md); a script or a package manager that
asks for the version waits for it. Everything else, `--version` among other arguments included, goes
to the command line (optout.cli)."""

from __future__ import annotations

import sys

from optout import version_line


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(version_line())
        return
    from optout.cli import main as command_line

    command_line()
