"""One optout at a time per state dir. A scheduled recheck that starts while a long batch or an earlier
recheck is still working would log into the same accounts twice and race on their evidence chains; the
second one waits a bounded time (settings.lock_timeout_s) and then gives up with LockBusy."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from filelock import FileLock, Timeout

from optout.config import Settings
from optout.errors import LockBusy
from optout.files import make_private_dir

LOCK_NAME = "optout.lock"


@contextmanager
def run_lock(settings: Settings, command: str = "optout") -> Iterator[None]:
    """Hold the state dir's lock for the body; raise LockBusy when another run keeps it too long.
    The lock is an OS file lock, so a killed holder releases it at once."""
    make_private_dir(settings.state_dir)
    lock = FileLock(settings.state_dir / LOCK_NAME, timeout=settings.lock_timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise LockBusy(
            f"Another optout run is still working (waited {settings.lock_timeout_s:g} s for it), so this "
            f"{command} did not start.",
            hint="Let it finish and try again, or raise lock_timeout_s (env OPTOUT_LOCK_TIMEOUT_S).",
        ) from None
    try:
        yield
    finally:
        lock.release()
