"""The tool's own log: a rotating file in the state dir, so a scheduled or batch run leaves a readable
trail, and an unexpected error's traceback lands there instead of on the user's terminal. Log lines
carry handles and outcomes, never secrets."""

from __future__ import annotations

import logging
import logging.handlers

from optout.config import Settings
from optout.files import make_private_dir

LOG_FILE = "optout.log"
LOG_BYTES, LOG_BACKUPS = 1_000_000, 5


def configure_file_log(settings: Settings) -> None:
    make_private_dir(settings.log_dir)
    path = str((settings.log_dir / LOG_FILE).absolute())
    root = logging.getLogger("optout")
    if any(getattr(h, "baseFilename", None) == path for h in root.handlers):
        return
    for old in [h for h in root.handlers if isinstance(h, logging.handlers.RotatingFileHandler)]:
        root.removeHandler(old)  # one log per process: a second command in it (tests) must not write to the first's
        old.close()
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=LOG_BYTES, backupCount=LOG_BACKUPS,
                                                   encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
