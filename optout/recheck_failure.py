"""When a recheck cannot run (a locked keyring, a crash, X unreachable), nobody is watching: an
unattended job must not fail silently. The failure is kept as a small record in the state dir (no
secret: the error's own one-paragraph message), sent as a notification where that is possible, shown
by the next command, `doctor` and `history`, and its notification is retried by the next recheck until
it is delivered; a recheck that runs clears it."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, ValidationError

from optout.config import Settings
from optout.errors import OptoutError, first_line
from optout.files import make_private_dir, write_private

log = logging.getLogger(__name__)
RECORD = "recheck-failure.json"


class RecheckFailure(BaseModel):
    at: float
    error: str  # the kind of failure (the error's class)
    message: str
    notified: bool = False

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.at, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    def sentence(self) -> str:
        return f"The recheck of {self.when} did not run: {self.message}"


def _path(settings: Settings) -> Path:
    return settings.state_dir / RECORD


def load(settings: Settings) -> RecheckFailure | None:
    try:
        return RecheckFailure.model_validate_json(_path(settings).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def record(settings: Settings, exc: BaseException) -> RecheckFailure:
    """Keep the failure, then try to tell the person; never raises (the original error must surface)."""
    if isinstance(exc, OptoutError):
        message = exc.message
    elif isinstance(exc, KeyboardInterrupt):
        message = "it was interrupted (Ctrl-C, or the system stopped the job)."
    else:
        message = f"unexpected {type(exc).__name__}: {first_line(exc)}"
    failure = RecheckFailure(at=time.time(), error=type(exc).__name__, message=message)
    failure.notified = _notify(settings, failure)
    _save(settings, failure)
    return failure


def retry_and_clear(settings: Settings) -> None:
    """At the start of a recheck that runs: deliver an earlier failure's notification if it never went
    out, then forget the failure (this run's own outcome is what counts from now on)."""
    failure = load(settings)
    if failure is None:
        return
    if not failure.notified:
        _notify(settings, failure)
    try:
        _path(settings).unlink()
    except OSError:
        pass


def _notify(settings: Settings, failure: RecheckFailure) -> bool:
    from optout.notify import Level, Notification, send

    try:
        delivery = send(settings, Notification(title="optout: recheck did not run", body=failure.sentence(),
                                               level=Level.FAILURE))
    except Exception as exc:  # noqa: BLE001  a config that cannot even name its targets: keep the record
        log.warning("could not send the recheck failure: %s", type(exc).__name__)
        return False
    return delivery.sent


def _save(settings: Settings, failure: RecheckFailure) -> None:
    try:
        make_private_dir(settings.state_dir)
        write_private(_path(settings), json.dumps(failure.model_dump()).encode())
    except OSError as exc:  # a full or read-only disk: the error itself still reaches the exit code
        log.warning("could not keep the recheck failure record: %s", type(exc).__name__)
