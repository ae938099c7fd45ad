"""Evidence retention. A daily recheck of many accounts writes a folder of screenshots per account per day
(about 200 KB each), nearly all of them saying "still off". `optout prune` removes those routine runs once
they are old, and keeps everything that matters: every run that switched something off, found a setting
on, or failed, and each account's newest run.

The chain stays checkable: before a folder goes, its receipt's hash and its own link to the receipt
before it are added to <handle>/pruned.json, so `optout verify` follows the chain through the gap. The
history database knows which runs changed and found nothing; verify accepts a missing receipt as pruned
only when the history agrees.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from optout.credentials import normalize_handle
from optout.errors import BadInput
from optout.evidence import (PRUNED, RECEIPT, PrunedReceipt, Receipt, chain_head, chain_lock, load_pruned,
                             sha256_file)
from optout.files import write_private
from optout.models import AccountOutcome, SettingOutcome, utcnow


class PrunedRun(BaseModel):
    handle: str
    folder: str
    finished_at: datetime
    bytes: int


class PruneReport(BaseModel):
    root: str
    older_than_days: float
    cutoff: datetime
    dry_run: bool = False
    removed: list[PrunedRun] = Field(default_factory=list)
    kept: int = 0

    @property
    def bytes_freed(self) -> int:
        return sum(r.bytes for r in self.removed)


def is_routine(receipt: Receipt) -> bool:
    """A run that changed nothing and found nothing on: every setting read, and every one already off."""
    return (receipt.outcome == AccountOutcome.OK and bool(receipt.settings)
            and all(s.outcome == SettingOutcome.ALREADY_OFF for s in receipt.settings))


def prune(root: Path, older_than_days: float, *, handles: Sequence[str] | None = None,
          dry_run: bool = False) -> PruneReport:
    if older_than_days < 0:
        raise BadInput("--older-than-days must be 0 or more.")
    root = Path(root)
    if not root.is_dir():
        raise BadInput(f"There is no evidence folder at {root}.", hint="Nothing to prune yet.")
    report = PruneReport(root=str(root), older_than_days=older_than_days, dry_run=dry_run,
                         cutoff=utcnow() - timedelta(days=older_than_days))
    wanted = {normalize_handle(h) for h in handles} if handles else None
    for handle_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is None or handle_dir.name.lower() in wanted:
            with chain_lock(handle_dir):
                _prune_handle(handle_dir, report)
    return report


def _prune_handle(handle_dir: Path, report: PruneReport) -> None:
    try:
        pruned = load_pruned(handle_dir)
    except (OSError, ValueError):
        raise BadInput(f"{handle_dir / PRUNED} is unreadable, so nothing of @{handle_dir.name} was pruned.",
                       hint="Run `optout verify` to see what happened to that folder.") from None
    head = chain_head(handle_dir)
    doomed: list[tuple[Path, PrunedRun]] = []
    for receipt_path in sorted(handle_dir.glob(f"*/{RECEIPT}")):
        receipt = _routine_and_old(receipt_path, head, report.cutoff)
        if receipt is None:
            report.kept += 1
            continue
        folder = receipt_path.parent
        pruned[folder.name] = PrunedReceipt(
            receipt=f"{folder.name}/{RECEIPT}", sha256=sha256_file(receipt_path),
            previous_receipt=receipt.previous_receipt, previous_receipt_sha256=receipt.previous_receipt_sha256,
            finished_at=receipt.finished_at, pruned_at=utcnow())
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        doomed.append((folder, PrunedRun(handle=handle_dir.name, folder=str(folder), finished_at=receipt.finished_at,
                                         bytes=size)))
    report.removed += [run for _, run in doomed]
    if report.dry_run or not doomed:
        return
    # The list first: a crash after it leaves a listed folder still on disk, which verify reads as usual.
    entries = sorted(pruned.values(), key=lambda e: e.receipt)
    write_private(handle_dir / PRUNED, ("[\n" + ",\n".join(e.model_dump_json() for e in entries) + "\n]\n").encode())
    for folder, _ in doomed:
        shutil.rmtree(folder)


def _routine_and_old(receipt_path: Path, head: Path | None, cutoff: datetime) -> Receipt | None:
    """The receipt when its run may go: old, routine, not the newest; None to keep it."""
    if head is not None and receipt_path.resolve() == head.resolve():
        return None
    try:
        receipt = Receipt.model_validate_json(receipt_path.read_bytes())
    except (OSError, ValidationError):
        return None  # kept for `optout verify` to name
    return receipt if receipt.finished_at < cutoff and is_routine(receipt) else None
