"""Private files and folders: everything optout writes about an account (evidence, history, logs,
session locks) is readable by its owner alone, and is written so a crash never leaves half a file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def make_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents 0700 (existing ones keep their mode)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700, exist_ok=True)
        os.chmod(d, 0o700)
        fsync_dir(d.parent)
    return path


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable: after a power cut the folder lists it (POSIX)."""
    if os.name != "posix":
        return  # Windows cannot open a folder for fsync; NTFS journals its metadata itself
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(path: Path, data: bytes) -> Path:
    """Write atomically and durably: temp file, fsync, rename, fsync of the folder. A reader (or a run
    after a crash) sees the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
