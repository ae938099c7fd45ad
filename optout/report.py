"""The HTML report: the latest result of each account (or of each account of one batch), before and after
screenshots side by side, outcome, time and whether the evidence still verifies. One self-contained file:
images are embedded (or, for very large batches, linked beside it) so it opens with no server."""

from __future__ import annotations

import base64
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError

from optout import __version__
from optout.credentials import normalize_handle
from optout.errors import BadInput
from optout import signing
from optout.evidence import SIGNATURE, Receipt, chain_head, load_pruned, sha256_file
from optout.files import write_private
from optout.models import Mode, utcnow

EMBED_LIMIT = 200  # accounts; above this images are linked, or the file grows past what browsers like


@dataclass
class ReportRow:
    receipt: Receipt
    folder: Path
    images: dict[str, str] = field(default_factory=dict)  # file name -> src (data: URI or relative path)
    problems: list[str] = field(default_factory=list)
    last_opt_out: ReportRow | None = None  # when this run only read: the newest run that applied

    @property
    def verified(self) -> bool:
        return not self.problems


def latest_receipts(evidence_root: Path, handles: list[str] | None = None) -> list[Path]:
    """The newest receipt of every handle under the evidence root (or of the handles given)."""
    root = Path(evidence_root)
    if not root.is_dir():
        raise BadInput(f"There is no evidence at {root} yet.", hint="Run `optout run HANDLE` first.")
    wanted = {normalize_handle(h) for h in handles} if handles else None
    found = []
    for handle_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and handle_dir.name.lower() not in wanted:
            continue
        head = chain_head(handle_dir)
        if head is not None:
            found.append(head)
    return found


def _row(receipt_path: Path, out_dir: Path, embed: bool, recorded: dict[str, str]) -> ReportRow:
    try:
        receipt = Receipt.model_validate_json(receipt_path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise BadInput(f"{receipt_path} is not a readable receipt ({type(exc).__name__}).") from None
    folder = receipt_path.parent
    row = ReportRow(receipt=receipt, folder=folder)
    anchored = recorded.get(str(receipt_path.resolve()))
    if anchored and anchored != sha256_file(receipt_path):
        row.problems.append("the receipt differs from the one the history recorded")
    if receipt.signing_key:
        why = signing.check(receipt_path.read_bytes(), receipt.signing_key, folder / SIGNATURE, None)
        row.problems += [why] if why else []
    for name, digest in receipt.images.items():
        image = folder / name  # a plain name: Receipt refuses names that leave the folder
        if image.is_symlink():
            row.problems.append(f"{name} is a symbolic link (refused)")
            continue
        if not image.is_file():
            row.problems.append(f"{name} is missing")
            continue
        data = image.read_bytes()
        if sha256_file(image) != digest:
            row.problems.append(f"{name} was changed after the receipt")
        if embed:
            row.images[name] = "data:image/png;base64," + base64.b64encode(data).decode()
        else:
            row.images[name] = Path(os.path.relpath(image, out_dir)).as_posix()
    return row


def _last_opt_out(receipt_path: Path, receipt: Receipt) -> Path | None:
    """Walk the handle's chain back from a read-only run to the newest run that applied the opt-out, so
    the report still shows the before/after of the change itself. Pruned runs (routine, gone) are stepped
    over by the links pruned.json kept."""
    handle_dir = receipt_path.parent.parent
    try:
        pruned = load_pruned(handle_dir)
    except (OSError, ValueError):
        pruned = {}
    seen = {receipt_path.parent.name}
    while receipt.mode is not Mode.APPLY and receipt.previous_receipt:
        previous = receipt.previous_receipt
        while previous and previous.split("/", 1)[0] in pruned and not (handle_dir / previous).is_file():
            _not_seen(seen, previous, handle_dir)
            previous = pruned[previous.split("/", 1)[0]].previous_receipt
        if not previous:
            return None
        _not_seen(seen, previous, handle_dir)
        receipt_path = handle_dir / previous
        try:
            receipt = Receipt.model_validate_json(receipt_path.read_bytes())
        except (OSError, ValidationError):
            return None
    return receipt_path if receipt.mode is Mode.APPLY else None


def _not_seen(seen: set[str], link: str, handle_dir: Path) -> None:
    """Receipts are data: a chain edited to loop back on itself is an error, not an endless walk."""
    folder = link.split("/", 1)[0]
    if folder in seen:
        raise BadInput(f"The receipts under {handle_dir} link to each other in a cycle ({folder}).",
                       hint="The evidence was edited: run `optout verify` to see what changed.")
    seen.add(folder)


def _row_with_history(receipt_path: Path, out_dir: Path, embed: bool, recorded: dict[str, str]) -> ReportRow:
    row = _row(receipt_path, out_dir, embed, recorded)
    if row.receipt.mode is not Mode.APPLY:
        applied = _last_opt_out(receipt_path, row.receipt)
        row.last_opt_out = _row(applied, out_dir, embed, recorded) if applied else None
    return row


def build_report(receipt_paths: list[Path], out: Path, *, title: str = "optout report",
                 embed: bool | None = None, recorded: dict[str, str] | None = None) -> Path:
    """Write the report to `out` (0600, atomically) and return its path. `recorded` (receipt path ->
    SHA-256, from the history) lets a receipt edited since it was written show as not verified."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    embed = len(receipt_paths) <= EMBED_LIMIT if embed is None else embed
    rows = [_row_with_history(Path(p), out.parent, embed, recorded or {}) for p in receipt_paths]
    rows.sort(key=lambda r: (r.receipt.outcome != "ok", r.receipt.handle))
    env = Environment(loader=PackageLoader("optout", "templates"), autoescape=select_autoescape(["html", "j2"]))
    html = env.get_template("report.html.j2").render(
        title=title,
        rows=rows,
        counts=Counter(r.receipt.outcome.value for r in rows),
        generated_at=utcnow(),
        version=__version__,
    )
    return write_private(out, html.encode())
