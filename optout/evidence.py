"""Evidence of what a run saw and did: screenshots, a receipt per run, and a hash chain per handle.

Layout: <root>/<handle>/<UTC timestamp>/{before-<setting>.png, after-<setting>.png, ..., receipt.json}.
Each receipt lists the SHA-256 of every image in its folder and the SHA-256 of the handle's previous
receipt, so editing an image, editing or deleting a receipt, or dropping a run from the middle shows up
in `verify_tree`. <root>/<handle>/chain.json names the newest receipt, so deleting the newest run shows
too; <root>/<handle>/pruned.json keeps the hash and link of each run `optout prune` removed. Files are
written atomically (temp file + os.replace), 0600; folders 0700.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from filelock import FileLock
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, computed_field

from optout.errors import BadInput
from optout.files import make_private_dir, write_private
from optout.models import AccountOutcome, Mode, SettingResult, utcnow
from optout.site import is_x

SCHEMA_VERSION = 1
RECEIPT = "receipt.json"
CHAIN = "chain.json"
PRUNED = "pruned.json"  # receipts `optout prune` removed, so the chain stays checkable through the gaps
OUTLINE_CSS = "4px solid #e0245e"
# Inputs whose value could be a secret are blacked out in every screenshot, whatever screen it is.
SECRET_INPUTS = "input[type=password], input[autocomplete=one-time-code], input[autocomplete=current-password]"


class SettingRecord(SettingResult):
    """One setting as the receipt keeps it; screenshot names are relative to the receipt's folder."""

    at: datetime | None = None
    api_fields_saved: list[str] = Field(default_factory=list)


class Failure(BaseModel):
    """Where and why a run stopped early."""

    outcome: str
    message: str
    url: str | None = None
    setting: str | None = None
    screenshot: str | None = None


class Receipt(BaseModel):
    schema_version: int = SCHEMA_VERSION
    tool_version: str
    browser_version: str | None = None
    handle: str
    base_url: str
    mode: Mode
    outcome: AccountOutcome
    message: str | None = None
    started_at: datetime
    finished_at: datetime = Field(default_factory=utcnow)
    settings: list[SettingRecord] = Field(default_factory=list)
    failure: Failure | None = None
    logged_in: bool = False
    privacy_policy_version: str | None = None  # "<effective date> (sha256 <prefix>)" when the run read it
    images: dict[str, str] = Field(default_factory=dict)  # file name -> SHA-256
    previous_receipt: str | None = None  # "<run folder>/receipt.json", relative to the handle folder
    previous_receipt_sha256: str | None = None

    @computed_field  # written into receipt.json: this run went to the replica, a demo or another host, not X
    @property
    def off_x(self) -> bool:
        return not is_x(self.base_url)


class PrunedReceipt(BaseModel):
    """What is kept of a receipt `optout prune` removed: its hash and its own link to the one before."""

    receipt: str  # "<run folder>/receipt.json", relative to the handle folder
    sha256: str
    previous_receipt: str | None = None
    previous_receipt_sha256: str | None = None
    finished_at: datetime
    pruned_at: datetime


def load_pruned(handle_dir: Path) -> dict[str, PrunedReceipt]:
    """The handle's pruned receipts by run folder name; ValueError when pruned.json is not readable."""
    path = handle_dir / PRUNED
    if not path.is_file():
        return {}
    entries = TypeAdapter(list[PrunedReceipt]).validate_json(path.read_bytes())
    return {e.receipt.split("/", 1)[0]: e for e in entries}


def chain_lock(handle_dir: Path) -> FileLock:
    """Held while a handle's chain changes (a receipt written, runs pruned)."""
    return FileLock(str(handle_dir / ".chain.lock"), mode=0o600)


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_folder_name(at: datetime) -> str:
    """UTC, sortable, safe on every file system."""
    return at.strftime("%Y%m%dT%H%M%S.%fZ")


class EvidenceRun:
    """The evidence folder of one account's run."""

    def __init__(self, root: Path, handle: str, *, started_at: datetime | None = None) -> None:
        self.started_at = started_at or utcnow()
        self.handle_dir = make_private_dir(Path(root).resolve() / handle)  # absolute: the history keeps it
        self.dir = make_private_dir(self.handle_dir / run_folder_name(self.started_at))

    async def screenshot(self, page, name: str, *, outline=None) -> Path:
        """Screenshot the page as `name`.png, with the control(s) of `outline` drawn round in red."""
        path = self.dir / f"{name}.png"
        marked = await _outline(outline, True) if outline is not None else 0
        try:
            image = await page.screenshot(mask=[page.locator(SECRET_INPUTS)], animations="disabled")
        finally:
            if marked:
                await _outline(outline, False)
        write_private(path, image)
        return path

    def write_receipt(self, receipt: Receipt) -> Path:
        """Hash the folder's images, link the handle's previous receipt, and write receipt.json."""
        with chain_lock(self.handle_dir):
            receipt.images = {p.name: sha256_file(p) for p in sorted(self.dir.glob("*.png"))}
            previous = chain_head(self.handle_dir)
            if previous is not None:
                receipt.previous_receipt = f"{previous.parent.name}/{RECEIPT}"
                receipt.previous_receipt_sha256 = sha256_file(previous)
            path = write_private(self.dir / RECEIPT, receipt.model_dump_json(indent=2).encode())
            head = {"latest": f"{self.dir.name}/{RECEIPT}", "sha256": sha256_file(path)}
            write_private(self.handle_dir / CHAIN, json.dumps(head, indent=2).encode())
        return path


async def _outline(locator, on: bool) -> int:
    """Outline the label (or the box itself) of every control matched; X's checkbox is drawn by its label."""
    try:
        return await locator.evaluate_all(
            """(els, [on, css]) => { for (const el of els) {
                   const target = el.closest('label') || el;
                   target.style.outline = on ? css : '';
                   target.style.outlineOffset = on ? '3px' : '';
                   if (on) target.scrollIntoView({block: 'center'});
               } return els.length; }""",
            [on, OUTLINE_CSS],
        )
    except Exception:  # the page went away: a screenshot without the outline is still evidence
        return 0


def chain_head(handle_dir: Path) -> Path | None:
    """The handle's newest receipt: the one chain.json names, else the newest folder holding one."""
    head = handle_dir / CHAIN
    if head.is_file():
        try:
            named = handle_dir / json.loads(head.read_text())["latest"]
            if named.is_file():
                return named
        except (ValueError, KeyError, TypeError):
            pass
    receipts = sorted(handle_dir.glob(f"*/{RECEIPT}"))
    return receipts[-1] if receipts else None


# ---- verification ---------------------------------------------------------------------------------


class Problem(BaseModel):
    path: str
    problem: str


class VerifyReport(BaseModel):
    root: str
    receipts: int = 0
    images: int = 0
    problems: list[Problem] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.receipts > 0


def verify_tree(path: Path, recorded: dict[str, str] | None = None,
                prunable: Collection[str] | None = None) -> VerifyReport:
    """Check every receipt under `path`: an evidence root, one handle's folder, or one run folder (whose
    whole handle chain is then checked). `recorded` (receipt path -> SHA-256, from the history database)
    anchors the chain outside the evidence folder: whoever rewrites the newest receipt and chain.json
    together, or deletes the newest run, still disagrees with it. `prunable` (receipt paths of runs the
    history says changed nothing and found nothing on) are the only recorded receipts that may be gone as
    pruned."""
    path = Path(path)
    report = VerifyReport(root=str(path))
    if not path.is_dir():
        raise BadInput(f"There is no evidence folder at {path}.", hint="Give the folder `optout run` printed.")
    handle_dirs = _handle_dirs(path)
    for handle_dir in handle_dirs:
        _verify_handle(handle_dir, report)
    _verify_anchors(path, handle_dirs, recorded or {}, set(prunable or ()), report)
    if report.receipts == 0 and not report.problems:
        report.problems.append(Problem(path=str(path), problem="no receipts found"))
    return report


def _handle_dirs(path: Path) -> list[Path]:
    if _is_run_dir(path):
        return [path.parent]
    if _is_handle_dir(path):
        return [path]
    return sorted(child for child in path.iterdir() if child.is_dir() and _is_handle_dir(child))


def _is_handle_dir(path: Path) -> bool:
    return (path / CHAIN).is_file() or any(_is_run_dir(c) for c in path.iterdir() if c.is_dir())


def _is_run_dir(path: Path) -> bool:
    return (path / RECEIPT).is_file() or any(path.glob("*.png"))


def _verify_handle(handle_dir: Path, report: VerifyReport) -> None:
    def problem(p: Path, text: str) -> None:
        report.problems.append(Problem(path=str(p), problem=text))

    runs = sorted(d for d in handle_dir.iterdir() if d.is_dir() and _is_run_dir(d))
    loaded: dict[str, tuple[Receipt, str]] = {}
    for run in runs:
        receipt_path = run / RECEIPT
        if not receipt_path.is_file():
            problem(receipt_path, "receipt is missing (the folder still holds images)")
            continue
        try:
            receipt = Receipt.model_validate_json(receipt_path.read_bytes())
        except ValidationError:
            problem(receipt_path, "receipt is not a valid receipt (edited or damaged)")
            continue
        report.receipts += 1
        loaded[run.name] = (receipt, sha256_file(receipt_path))
        _verify_images(run, receipt, report, problem)
    _verify_chain(handle_dir, loaded, problem)


def _verify_anchors(path: Path, handle_dirs: list[Path], recorded: dict[str, str], prunable: set[str],
                    report: VerifyReport) -> None:
    """Each receipt the history recorded for the handles checked (for every handle, when `path` is a whole
    evidence folder, so a deleted handle folder shows too) must still be there, byte for byte, or have
    been pruned, which only a run that changed nothing and found nothing on may be."""
    checked = {d.resolve() for d in handle_dirs}
    root = path.resolve() if path.resolve() not in checked and not _is_run_dir(path) else None
    pruned_by_dir: dict[Path, dict[str, PrunedReceipt]] = {}
    for recorded_path, digest in sorted(recorded.items()):
        receipt = Path(recorded_path).resolve()
        handle_dir = receipt.parent.parent
        if handle_dir not in checked and handle_dir.parent != root:
            continue
        if receipt.is_file():
            if sha256_file(receipt) == digest:
                continue
            problem = "receipt differs from the SHA-256 the history recorded when it was written"
        else:
            if handle_dir not in pruned_by_dir:
                try:
                    pruned_by_dir[handle_dir] = load_pruned(handle_dir)
                except (OSError, ValueError):
                    pruned_by_dir[handle_dir] = {}
            entry = pruned_by_dir[handle_dir].get(receipt.parent.name)
            if entry is None or entry.sha256 != digest:
                problem = "receipt recorded in the history is missing (deleted?)"
            elif recorded_path not in prunable and str(receipt) not in prunable:
                problem = "receipt is listed as pruned, but the history says that run changed or found something"
            else:
                continue
        report.problems.append(Problem(path=str(receipt), problem=problem))


def _verify_images(run: Path, receipt: Receipt, report: VerifyReport, problem) -> None:
    for name, digest in receipt.images.items():
        image = run / name
        report.images += 1
        if not image.is_file():
            problem(image, "image listed in the receipt is missing")
        elif sha256_file(image) != digest:
            problem(image, "image was changed after the receipt was written (SHA-256 differs)")
    for image in sorted(run.glob("*.png")):
        if image.name not in receipt.images:
            problem(image, "image is not listed in the receipt (added afterwards)")


@dataclass(frozen=True)
class _Link:
    previous: str | None  # "<run folder>/receipt.json"
    previous_sha256: str | None
    sha256: str


def _verify_chain(handle_dir: Path, loaded: dict, problem) -> None:
    """Each receipt must name the one before it with that file's exact hash; chain.json names the last.
    A pruned receipt stands in the chain by what pruned.json kept of it (its hash and its own link)."""
    links = {name: _Link(r.previous_receipt, r.previous_receipt_sha256, digest) for name, (r, digest) in loaded.items()}
    try:
        pruned = load_pruned(handle_dir)
    except (OSError, ValueError):
        problem(handle_dir / PRUNED, "the list of pruned receipts is unreadable (edited or damaged)")
        pruned = {}
    for name, entry in pruned.items():
        links.setdefault(name, _Link(entry.previous_receipt, entry.previous_receipt_sha256, entry.sha256))
    referenced: set[str] = set()
    broken = False
    for name, link in sorted(links.items()):
        if link.previous is None:
            continue
        prev_name = link.previous.split("/", 1)[0]
        referenced.add(prev_name)
        prev_path = handle_dir / link.previous
        if prev_name not in links:
            broken = True
            if not prev_path.is_file():
                problem(prev_path, f"receipt is missing (deleted?); {name}/{RECEIPT} links to it")
            continue
        if links[prev_name].sha256 != link.previous_sha256:
            problem(prev_path, f"receipt was edited after {name}/{RECEIPT} linked to it (chain broken)")
    starts = sorted(n for n, link in links.items() if link.previous is None)
    for extra in starts[1:]:
        problem(handle_dir / extra / RECEIPT, "receipt does not link to the one before it (chain broken)")
    _verify_head(handle_dir, loaded, None if broken else referenced, problem)


def _verify_head(handle_dir: Path, loaded: dict, referenced: set[str] | None, problem) -> None:
    head_path = handle_dir / CHAIN
    if not loaded and not head_path.is_file():
        return
    try:
        head = json.loads(head_path.read_text())
        latest, digest = head["latest"].split("/", 1)[0], head["sha256"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        problem(head_path, "chain head is missing or unreadable")
        return
    if latest not in loaded:
        if not (handle_dir / latest / RECEIPT).is_file():
            problem(handle_dir / latest / RECEIPT, "newest receipt is missing (deleted?); chain.json names it")
        return
    if loaded[latest][1] != digest:
        problem(handle_dir / latest / RECEIPT, "newest receipt was edited (hash differs from chain.json)")
    for name in loaded if referenced is not None else ():
        if name != latest and name not in referenced:
            problem(handle_dir / name / RECEIPT, "receipt is outside the chain (no later receipt links to it)")
