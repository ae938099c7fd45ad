"""Questions to the person at the terminal (Rich prompts, hidden input for secrets).

Unattended runs (cron, CI, batch) have no one to answer, so every question returns None when stdin is
not a terminal; the caller then stops with a clear outcome (needs_human) instead of hanging.
Prompts go to stderr so that `--json` output on stdout stays machine-readable.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.prompt import Confirm, Prompt


class _ExactPrompt(Prompt):
    """Rich's prompt strips the answer; a password is kept exactly as typed."""

    def process_response(self, value: str) -> str:
        return value


class Prompter:
    """Asks the person at the terminal; `None` means nobody is there to answer."""

    def __init__(self, console: Console | None = None, *, interactive: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self._interactive = interactive

    @property
    def interactive(self) -> bool:
        if self._interactive is not None:
            return self._interactive
        try:
            return sys.stdin.isatty()
        except (AttributeError, ValueError):  # stdin closed or replaced
            return False

    def ask(self, question: str, secret: bool = True, *, strip: bool = True) -> str | None:
        """One line of text (hidden when `secret`); None when no one is at the terminal or they gave up.
        `strip=False` keeps the answer exactly as typed (a password may begin or end with a space)."""
        if not self.interactive:
            return None
        try:
            answer = (Prompt if strip else _ExactPrompt).ask(question, console=self.console, password=secret)
        except (EOFError, KeyboardInterrupt):
            return None
        return (answer.strip() if strip else answer) or None

    def confirm(self, question: str, default: bool = False) -> bool | None:
        if not self.interactive:
            return None
        try:
            return Confirm.ask(question, console=self.console, default=default)
        except (EOFError, KeyboardInterrupt):
            return None

    def tell(self, message: str) -> None:
        """A line for the person (to stderr), e.g. what the visible browser is waiting for."""
        self.console.print(message, highlight=False)
