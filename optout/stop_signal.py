"""SIGTERM ends a run the way Ctrl-C does. systemd stopping a scheduled recheck, `kill`, a container
being stopped or a CI timeout send SIGTERM, which would otherwise end Python on the spot: the account in
progress then leaves a run folder without a receipt. Turned into SIGINT, it takes Ctrl-C's path (asyncio
cancels the work, the receipt is marked interrupted, a batch says --resume), and the receipt names
SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

TERMINATED_EXIT_CODE = 128 + signal.SIGTERM  # what a shell reports for a job ended by SIGTERM

_terminated = False


def _as_ctrl_c(signum, frame) -> None:
    global _terminated
    if not callable(signal.getsignal(signal.SIGINT)):
        # SIGINT ignored (a background job of a script): SIGTERM ends the process as it always did,
        # never swallowed; the evidence is crash-safe either way
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
        return
    _terminated = True
    signal.raise_signal(signal.SIGINT)


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """For one command; the handler before it comes back afterwards (tests run commands in-process)."""
    global _terminated
    _terminated = False
    try:
        before = signal.signal(signal.SIGTERM, _as_ctrl_c)
    except ValueError:  # not the main thread: signals stay as they are
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def terminated() -> bool:
    return _terminated


def stop_signal_text() -> str:
    """How the run was stopped, for receipts and messages."""
    return "SIGTERM (the system or a scheduler stopped the job)" if terminated() else "Ctrl-C (SIGINT)"
