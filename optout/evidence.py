"""Evidence of what a run saw and did: screenshots, a receipt per run, and a hash chain per handle.

Layout: <root>/<handle>/<UTC timestamp>/{before-<setting>.png, after-<setting>.png, ..., receipt.json}.
Each receipt lists the SHA-256 of every image in its folder and the SHA-256 of the handle's previous
receipt, so editing an image, editing or deleting a receipt, or dropping a run from the middle shows up
in `verify_tree`. <root>/<handle>/chain.json names the newest receipt, so deleting the newest run shows
too; <root>/<handle>/pruned.json keeps the hash and link of each run `optout prune` removed. Files are
written atomically and durably (temp file, fsync, rename, fsync of the folder), 0600; folders 0700.

Commit order of a run (docs/architecture.md "Evidence that survives crashes"): (1) the run folder and its
images, (2) receipt.sig (and receipt.tsr, when a TSA is configured), (3) receipt.json, (4) chain.json, (5)
the history row. A run killed before (3) leaves a folder nothing links to; one killed between (3) and
(4) leaves a receipt that links correctly to the head chain.json names. `verify` reports both as
"interrupted", never as changed, and the next run continues the chain from the newest committed receipt
(`chain_head` rolls forward over step 4). A run stopped by Ctrl-C (SIGINT) or a problem of the machine
(full disk, browser gone) writes a receipt marked `interrupted` with what it had done so far, at once
(never waiting for a TSA's timestamp).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import os
import re
import stat
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from filelock import FileLock
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, computed_field, field_validator

from optout import signing, timestamp
from optout.errors import BadInput, DiskFull
from optout.files import make_private_dir, write_private
from optout.models import AccountOutcome, Mode, SettingResult, utcnow
from optout.site import is_x, site_of
from optout.stop_signal import stop_signal_text

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECEIPT = "receipt.json"
CHAIN = "chain.json"
PRUNED = "pruned.json"  # receipts `optout prune` removed, so the chain stays checkable through the gaps
SIGNATURE = signing.SIGNATURE
RUN_FOLDER_RE = re.compile(r"^\d{8}T\d{6}\.\d{6}Z\Z")
_IMAGE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.png\Z")  # a plain name: no folder, no '..'
_FULL_DISK = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
OUTLINE_CSS = "4px solid #e0245e"
# Every field a person can type into is blacked out in every screenshot, whatever screen it is: a password
# shown in clear (X's eye toggle makes it type=text), a code, an answer to X's identity check. Naming only
# the secret ones missed those; checkboxes, radios and buttons (what the evidence shows) stay visible.
SECRET_INPUTS = ", ".join([
    "input:not([type=checkbox]):not([type=radio]):not([type=submit]):not([type=button]):not([type=reset])"
    ":not([type=image]):not([type=range]):not([type=color]):not([type=hidden]):not([type=file])",
    "textarea", "[contenteditable]:not([contenteditable=false])",
])


class SettingRecord(SettingResult):
    """One setting as the receipt keeps it; screenshot names are relative to the receipt's folder."""

    at: datetime | None = None
    api_fields_saved: list[str] = Field(default_factory=list)
    # not_found: the labels the page did show, and its secret-free outline (a JSON file beside the receipt)
    seen_labels: list[str] = Field(default_factory=list)
    outline: str | None = None


class ClearedSheet(BaseModel):
    """A sheet optout cleared on its way (it offered no choice): its text, how, and a screenshot."""

    text: str
    how: str  # "close", "escape" or "button"
    screenshot: str | None = None


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
    sheets_cleared: list[ClearedSheet] = Field(default_factory=list)
    images: dict[str, str] = Field(default_factory=dict)  # file name -> SHA-256
    previous_receipt: str | None = None  # "<run folder>/receipt.json", relative to the handle folder
    previous_receipt_sha256: str | None = None
    # Issue 12 (evidence that survives crashes and proves itself); None in receipts written before it.
    interrupted: str | None = None  # why the run stopped early (signal, error); settings = what was done
    site: str | None = None  # scheme://host[:port] the run worked on
    account_id: str | None = None  # X's numeric user id, from the twid cookie
    signing_key: str | None = None  # id of the Ed25519 key whose signature is in receipt.sig
    key_rotation: signing.KeyRotation | None = None  # the previous key's endorsement of signing_key

    @field_validator("images")
    @classmethod
    def _images_stay_in_the_run_folder(cls, images: dict[str, str]) -> dict[str, str]:
        """A receipt is data: an image name that could reach outside its folder makes it invalid."""
        for name in images:
            if not _IMAGE_NAME_RE.match(name):
                raise ValueError(f"image name {name!r} is not a plain file name in the run folder")
        return images

    @field_validator("previous_receipt")
    @classmethod
    def _link_is_a_sibling_run(cls, link: str | None) -> str | None:
        if link is not None and not (link.endswith(f"/{RECEIPT}") and RUN_FOLDER_RE.match(link[: -len(RECEIPT) - 1])):
            raise ValueError("previous_receipt must name <run folder>/receipt.json of the same handle")
        return link

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
    """The evidence folder of one account's run. With `credentials` (the CredentialStore) its receipt is
    signed with the key in the keyring and names the X account's numeric id."""

    def __init__(self, root: Path, handle: str, *, started_at: datetime | None = None, credentials=None,
                 tsa_url: str | None = None) -> None:
        self.started_at = started_at or utcnow()
        root = Path(root).resolve()  # absolute: the history keeps it; the root itself may be a link
        self.handle_dir = root / handle
        with _disk_full_named(self.handle_dir):
            _refuse_link(self.handle_dir)
            make_private_dir(self.handle_dir)
            _tighten(root, self.handle_dir)
            self.dir = make_private_dir(self.handle_dir / run_folder_name(self.started_at))
        self.credentials = credentials
        self.signer = signing.Signer(credentials) if credentials is not None else None
        self.tsa_url = tsa_url

    async def screenshot(self, page, name: str, *, outline=None) -> Path:
        """Screenshot the page as `name`.png, with the control(s) of `outline` drawn round in red."""
        path = self.dir / f"{name}.png"
        marked = await _outline(outline, True) if outline is not None else 0
        try:
            image = await page.screenshot(mask=[page.locator(SECRET_INPUTS)], animations="disabled")
        finally:
            if marked:
                await _outline(outline, False)
        with _disk_full_named(self.dir):
            write_private(path, image)
        return path

    def write_receipt(self, receipt: Receipt) -> Path:
        """Commit the run (steps 2-4 of the order above): hash the folder's images, link the handle's
        previous receipt, sign, write receipt.sig, receipt.json, then chain.json. No timestamp: `commit`
        asks the TSA for one."""
        with chain_lock(self.handle_dir), _disk_full_named(self.dir):
            return self._write(self._seal(receipt), None)

    async def commit(self, receipt: Receipt) -> Path:
        """`write_receipt` for a run that finished, with the configured TSA's timestamp, in a batch's event
        loop: while the TSA answers, the other accounts go on. A cancel then (Ctrl-C, the batch stopping)
        commits the receipt at once, without the timestamp: the run did finish, and its receipt says what
        it did. The chain lock is held across the wait: one process works on a handle once at a time (runs
        and rechecks drop repeated handles, a batch keeps the first, a retry starts after the receipt), so
        no coroutine of this process waits for it."""
        if not self.tsa_url:
            return self.write_receipt(receipt)
        with chain_lock(self.handle_dir), _disk_full_named(self.dir):
            data = self._seal(receipt)
            try:
                token = await timestamp.stamp(self.tsa_url, data)
            except asyncio.CancelledError:
                log.warning("timestamp: skipped for %s: the command was stopped while the TSA answered", self.dir)
                try:
                    self._write(data, None)
                except Exception as exc:  # the stop is what goes on; verify reads the folder as interrupted
                    log.warning("could not write the receipt in %s: %s", self.dir, type(exc).__name__)
                raise
            return self._write(data, token)

    def _seal(self, receipt: Receipt) -> bytes:
        """The receipt's bytes, with the images' hashes, the link to the handle's previous receipt and the
        account named; receipt.sig written over them. Under the handle's chain lock."""
        receipt.images = {p.name: sha256_file(p) for p in sorted(self.dir.glob("*.png"))}
        previous = chain_head(self.handle_dir)
        if previous is not None:
            receipt.previous_receipt = f"{previous.parent.name}/{RECEIPT}"
            receipt.previous_receipt_sha256 = sha256_file(previous)
        self._identify(receipt)
        data = receipt.model_dump_json(indent=2).encode()
        if self.signer is not None:
            write_private(self.dir / SIGNATURE, self.signer.sign(data))
        return data

    def _write(self, data: bytes, token: bytes | None) -> Path:
        """receipt.tsr (a timestamp of exactly `data`), receipt.json, then chain.json. Under the chain lock."""
        if token:
            write_private(self.dir / timestamp.TIMESTAMP, token)
        path = write_private(self.dir / RECEIPT, data)
        head = {"latest": f"{self.dir.name}/{RECEIPT}", "sha256": hashlib.sha256(data).hexdigest()}
        write_private(self.handle_dir / CHAIN, json.dumps(head, indent=2).encode())
        for stale in self.handle_dir.glob(f".{CHAIN}.*.tmp"):  # a killed run's; the lock rules out a live one
            stale.unlink(missing_ok=True)
        return path

    def write_interrupted(self, receipt: Receipt, why: BaseException) -> Path | None:
        """The run stops early (Ctrl-C, a problem of the machine): commit a receipt marked
        interrupted with what was done so far (`write_on_stop`)."""
        return self.write_on_stop(_marked_interrupted(receipt, why))

    def write_on_stop(self, receipt: Receipt) -> Path | None:
        """Commit `receipt` at once, while the command stops: without a timestamp, since a stop is no time
        to wait for a TSA. When even that cannot be written (the disk is full), the folder stays without a
        receipt, which `verify` reads as interrupted."""
        try:
            with chain_lock(self.handle_dir), _disk_full_named(self.dir):
                return self._write(self._seal(receipt), None)
        except Exception as exc:  # the stop is what the user must see
            log.warning("could not write the receipt in %s: %s", self.dir, type(exc).__name__)
            return None

    def _identify(self, receipt: Receipt) -> None:
        """Name the site, the X account (numeric id from the twid cookie) and the signing key."""
        try:
            receipt.site = site_of(receipt.base_url)  # the site the keyring binds the account's secrets to
        except ValueError:
            receipt.site = None  # a base URL without a host: the receipt still stands
        if self.credentials is not None and receipt.account_id is None:
            try:
                session = self.credentials.load_session(receipt.handle, include_expired=True)
            except Exception:  # a keyring that fails now must not cost the receipt
                session = None
            receipt.account_id = account_id_from_twid(session.twid if session else None)
        if self.signer is not None:
            receipt.signing_key = self.signer.key_id
            receipt.key_rotation = self.signer.rotation()


def account_id_from_twid(twid: str | None) -> str | None:
    """X's twid cookie is `u=<numeric id>`, URL-encoded (u%3D123); anything else is not an id."""
    value = unquote(twid or "").strip('"')
    return value[2:] if value.startswith("u=") and value[2:].isdigit() else None


def _marked_interrupted(receipt: Receipt, why: BaseException) -> Receipt:
    receipt.interrupted = _why(why)
    receipt.outcome = AccountOutcome.ERROR
    receipt.message = receipt.message or f"The run was interrupted ({receipt.interrupted}) before it finished."
    return receipt


def _why(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return f"stopped by {stop_signal_text()}"
    if isinstance(exc, asyncio.CancelledError):  # asyncio.run turns Ctrl-C into this; so does a batch stopping
        return f"cancelled: {stop_signal_text()}, or the batch stopped after another account's error"
    return f"{type(exc).__name__}: {getattr(exc, 'message', None) or str(exc)}"[:300]


class _disk_full_named:
    """A full disk becomes DiskFull naming the folder; write_private has already removed its temp file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, OSError) and exc.errno in _FULL_DISK:
            raise DiskFull(f"The disk holding the evidence folder {self.folder} is full "
                           f"({os.strerror(exc.errno)}); nothing half-written was kept in the chain.",
                           hint="Free some space (or run `optout prune`, or point --out at another disk) "
                                "and run again: the chain goes on from the last complete receipt.") from None
        return False


def _refuse_link(path: Path) -> None:
    """Symbolic links inside the evidence tree are refused: a link could make a run write (or verify
    read) somewhere else. The root itself may be a link the user made."""
    if path.is_symlink():
        raise BadInput(f"{path} is a symbolic link; optout does not follow links inside the evidence folder.",
                       hint="Replace it with a real folder (the evidence folder itself may be a link).")


def _tighten(root: Path, handle_dir: Path) -> None:
    """Evidence is private: a handle folder others can read is set back to 0700; a root others can read
    is named in a warning (it may be a folder the user shares on purpose)."""
    if stat.S_IMODE(handle_dir.stat().st_mode) & 0o077:
        os.chmod(handle_dir, 0o700)
        log.warning("tightened the permissions of %s to 0700 (others could read it)", handle_dir)
    if stat.S_IMODE(root.stat().st_mode) & 0o077:
        log.warning("the evidence folder %s can be read by other users; `chmod 700` it", root)


async def _outline(locator, on: bool) -> int:
    """Outline the label (else the row holding it) of every control matched: X draws no <label> in 2026."""
    try:
        return await locator.evaluate_all(
            """(els, [on, css]) => { for (const el of els) {
                   const target = el.closest('label') || el.parentElement || el;
                   target.style.outline = on ? css : '';
                   target.style.outlineOffset = on ? '3px' : '';
                   if (on) target.scrollIntoView({block: 'center'});
               } return els.length; }""",
            [on, OUTLINE_CSS],
        )
    except Exception:  # the page went away: a screenshot without the outline is still evidence
        return 0


def chain_head(handle_dir: Path) -> Path | None:
    """The handle's newest committed receipt: the one chain.json names (else the newest folder holding
    one), rolled forward over receipts a run committed before it died between receipt.json and chain.json."""
    named = _named_head(handle_dir)
    return _roll_forward(handle_dir, named)[-1] if named else None


def _named_head(handle_dir: Path) -> Path | None:
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


def _roll_forward(handle_dir: Path, head: Path) -> list[Path]:
    """`head`, then each later receipt that links to the one before with its exact hash. Only newer
    folders are looked at, so a loop is impossible."""
    chain = [head]
    while True:
        digest, link = sha256_file(chain[-1]), f"{chain[-1].parent.name}/{RECEIPT}"
        later = sorted(p for p in handle_dir.glob(f"*/{RECEIPT}") if p.parent.name > chain[-1].parent.name)
        nxt = next((p for p in later if _links_to(p, link, digest)), None)
        if nxt is None:
            return chain
        chain.append(nxt)


def _links_to(path: Path, link: str, digest: str) -> bool:
    try:
        receipt = Receipt.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return False
    return receipt.previous_receipt == link and receipt.previous_receipt_sha256 == digest


# ---- verification ---------------------------------------------------------------------------------


class Problem(BaseModel):
    path: str
    problem: str


class VerifyReport(BaseModel):
    root: str
    receipts: int = 0
    images: int = 0
    signed: int = 0
    unsigned: int = 0  # written before receipts were signed
    timestamped: int = 0  # with an RFC 3161 timestamp that holds
    problems: list[Problem] = Field(default_factory=list)  # changed, removed, damaged: exit 1
    interrupted: list[Problem] = Field(default_factory=list)  # crash states of a run: not tampering
    warnings: list[Problem] = Field(default_factory=list)  # loose permissions, unsigned, key changes

    @property
    def ok(self) -> bool:
        return not self.problems and (self.receipts > 0 or bool(self.interrupted))


def verify_tree(path: Path, recorded: dict[str, str] | None = None,
                prunable: Collection[str] | None = None, *,
                trusted_keys: dict | None = None, tsa_roots: list | None = None) -> VerifyReport:
    """Check every receipt under `path`: an evidence root, one handle's folder, or one run folder (whose
    whole handle chain is then checked). `recorded` (receipt path -> SHA-256, from the history database)
    anchors the chain outside the evidence folder: whoever rewrites the newest receipt and chain.json
    together, or deletes the newest run, still disagrees with it. `prunable` (receipt paths of runs the
    history says changed nothing and found nothing on) are the only recorded receipts that may be gone as
    pruned. `trusted_keys` (key id -> Ed25519 public key, from `--public-key`) must have signed every
    signed receipt; without them each signature is checked against the key it names. `tsa_roots` (from
    `--tsa-cert`) must anchor every receipt.tsr; without them a timestamp is only matched to its receipt."""
    path = Path(path)
    report = VerifyReport(root=str(path))
    if not path.is_dir():
        raise BadInput(f"There is no evidence folder at {path}.", hint="Give the folder `optout run` printed.")
    path = path.resolve()  # the folder given may be a link the user made; nothing inside it may be
    handle_dirs = _handle_dirs(path, report)
    for handle_dir in handle_dirs:
        _scan_tree(handle_dir, report)
        _verify_handle(handle_dir, report, trusted_keys, tsa_roots)
    _verify_anchors(path, handle_dirs, recorded or {}, set(prunable or ()), report)
    if report.signed and trusted_keys is None:
        report.warnings.append(Problem(path=str(path), problem="signatures were checked against the key each "
                                       "receipt names; give --public-key to check that the key is yours"))
    if report.receipts == 0 and not report.problems and not report.interrupted:
        report.problems.append(Problem(path=str(path), problem="no receipts found"))
    return report


def _handle_dirs(path: Path, report: VerifyReport) -> list[Path]:
    if _is_run_dir(path):
        return [path.parent]
    if _is_handle_dir(path):
        return [path]
    found = []
    for child in sorted(path.iterdir()):
        if child.is_symlink():
            report.problems.append(Problem(path=str(child), problem="symbolic link inside the evidence folder "
                                           "(refused, not followed)"))
        elif child.is_dir() and _is_handle_dir(child):
            found.append(child)
    return found


def _is_handle_dir(path: Path) -> bool:
    return (path / CHAIN).is_file() or any(_is_run_dir(c) for c in path.iterdir() if c.is_dir())


def _is_run_dir(path: Path) -> bool:
    return bool(RUN_FOLDER_RE.match(path.name)) or (path / RECEIPT).is_file() or any(path.glob("*.png"))


def _scan_tree(handle_dir: Path, report: VerifyReport) -> None:
    """Links are refused, leftovers of interrupted writes and loose permissions named; nothing followed."""
    _warn_if_loose(handle_dir.parent, report)
    _warn_if_loose(handle_dir, report)
    for folder, dirs, files in os.walk(handle_dir, followlinks=False):
        for name in sorted(dirs + files):
            entry = Path(folder) / name
            mode = entry.lstat().st_mode
            if stat.S_ISLNK(mode):
                report.problems.append(Problem(path=str(entry), problem="symbolic link inside the evidence "
                                               "folder (refused, not followed)"))
            elif name.startswith(".") and name.endswith(".tmp"):
                report.interrupted.append(Problem(path=str(entry), problem="temporary file of a write that was "
                                                  "interrupted (never part of the chain; safe to delete)"))
            else:
                _warn_if_loose(entry, report)


def _warn_if_loose(path: Path, report: VerifyReport) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077 and not any(w.path == str(path) for w in report.warnings):
        report.warnings.append(Problem(path=str(path), problem=f"others can access it (mode {mode:o}); "
                                       "`chmod go-rwx` it"))


def _verify_handle(handle_dir: Path, report: VerifyReport, trusted_keys: dict | None,
                   tsa_roots: list | None = None) -> None:
    def problem(p: Path, text: str) -> None:
        report.problems.append(Problem(path=str(p), problem=text))

    runs = sorted(d for d in handle_dir.iterdir() if d.is_dir() and not d.is_symlink() and _is_run_dir(d))
    loaded: dict[str, tuple[Receipt, str]] = {}
    without_receipt: list[Path] = []
    signatures = _Signatures(trusted_keys, report, problem)
    for run in runs:
        receipt_path = run / RECEIPT
        if receipt_path.is_symlink():
            continue  # named by _scan_tree
        if not receipt_path.is_file():
            without_receipt.append(run)
            continue
        try:
            data = receipt_path.read_bytes()
            receipt = Receipt.model_validate_json(data)
        except (OSError, ValidationError):
            problem(receipt_path, "receipt is not a valid receipt (edited or damaged)")
            continue
        report.receipts += 1
        loaded[run.name] = (receipt, hashlib.sha256(data).hexdigest())
        _verify_images(run, receipt, report, problem)
        signatures.check(run, receipt, data)
        _verify_timestamp(run, data, tsa_roots, report, problem)
        if receipt.interrupted:
            report.interrupted.append(Problem(path=str(receipt_path), problem=f"the run was interrupted "
                                              f"({receipt.interrupted}); the receipt lists what it had done"))
    named = _verify_chain(handle_dir, loaded, problem, report)
    for run in without_receipt:
        if run.name not in named:
            images = len(list(run.glob("*.png")))
            report.interrupted.append(Problem(path=str(run), problem=f"the run stopped before its receipt was "
                                              f"written; its {images} image(s) are not part of the chain"))


def _verify_timestamp(run: Path, data: bytes, roots: list | None, report: VerifyReport, problem) -> None:
    tsr = run / timestamp.TIMESTAMP
    if not tsr.is_file() or tsr.is_symlink():
        return
    why, _ = timestamp.check(tsr, data, roots)
    if why:
        problem(tsr, why)
    else:
        report.timestamped += 1


class _Signatures:
    """Per handle, in run order: every signature checked; a receipt without one after a signed receipt is
    a removed signature; a change of key is named (a rotation, or another machine's shard)."""

    def __init__(self, trusted: dict | None, report: VerifyReport, problem) -> None:
        self.trusted, self.report, self.problem = trusted, report, problem
        self.last_key: str | None = None

    def check(self, run: Path, receipt: Receipt, data: bytes) -> None:
        if receipt.signing_key is None:
            if self.last_key is not None:
                self.problem(run / RECEIPT, "receipt is not signed, but an earlier receipt of this account was "
                                            "(signature stripped?)")
            else:
                self.report.unsigned += 1
                self.report.warnings.append(Problem(path=str(run / RECEIPT), problem="unsigned (written before "
                                                    "optout signed receipts)"))
            return
        why = signing.check(data, receipt.signing_key, run / SIGNATURE, self.trusted)
        if why:
            self.problem(run / SIGNATURE, why)
        else:
            self.report.signed += 1
        if self.last_key is not None and receipt.signing_key != self.last_key:
            self.report.warnings.append(Problem(path=str(run / RECEIPT), problem=self._change(run, receipt)))
        self.last_key = receipt.signing_key

    def _change(self, run: Path, receipt: Receipt) -> str:
        """A change of key, told apart: rotated by the owner (endorsed by the previous key) or not."""
        change = f"signing key changed from {self.last_key} to {receipt.signing_key}"
        try:
            new_raw = signing.Signature.model_validate_json((run / SIGNATURE).read_bytes()).public_key
        except (OSError, ValidationError):
            new_raw = ""
        if receipt.key_rotation and signing.endorsed(receipt.key_rotation, self.last_key, new_raw):
            return f"{change}: a rotation, endorsed by the previous key (recorded in the chain)"
        return f"{change}, not endorsed by it: another machine's key, or a key made anew (recorded in the chain)"


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
        if image.is_symlink():
            continue  # named by _scan_tree, never read
        if not image.is_file():
            problem(image, "image listed in the receipt is missing")
        elif sha256_file(image) != digest:
            problem(image, "image was changed after the receipt was written (SHA-256 differs)")
    for image in sorted(run.glob("*.png")):
        if image.name not in receipt.images and not image.is_symlink():
            problem(image, "image is not listed in the receipt (added afterwards)")


@dataclass(frozen=True)
class _Link:
    previous: str | None  # "<run folder>/receipt.json"
    previous_sha256: str | None
    sha256: str


def _verify_chain(handle_dir: Path, loaded: dict, problem, report: VerifyReport) -> set[str]:
    """Each receipt must name the one before it with that file's exact hash; chain.json names the last.
    A pruned receipt stands in the chain by what pruned.json kept of it (its hash and its own link).
    Returns the run folders something links to or names, whose absence is therefore a problem."""
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
    if _has_cycle(links):
        broken = True
        problem(handle_dir, "receipts link to each other in a cycle (edited: a real chain only goes back in time)")
    starts = sorted(n for n, link in links.items() if link.previous is None)
    for extra in starts[1:]:
        problem(handle_dir / extra / RECEIPT, "receipt does not link to the one before it (chain broken)")
    latest = _verify_head(handle_dir, loaded, links, None if broken else referenced, problem, report)
    return referenced | ({latest} if latest else set())


def _has_cycle(links: dict[str, _Link]) -> bool:
    done: set[str] = set()
    for start in links:
        seen: set[str] = set()
        name: str | None = start
        while name in links and name not in done:
            if name in seen:
                return True
            seen.add(name)
            previous = links[name].previous
            name = previous.split("/", 1)[0] if previous else None
        done |= seen
    return False


def _verify_head(handle_dir: Path, loaded: dict, links: dict[str, _Link], referenced: set[str] | None, problem,
                 report: VerifyReport) -> str | None:
    """chain.json must name a receipt with its hash. Receipts committed after it that link on from it
    with the right hashes are a run that died before step 4 (chain.json): interrupted, not changed."""
    head_path = handle_dir / CHAIN
    if not loaded and not head_path.is_file():
        return None
    if not head_path.exists() and len(links) == 1 and all(link.previous is None for link in links.values()):
        (only,) = loaded
        report.interrupted.append(Problem(path=str(head_path), problem=f"missing: the first run ({only}) stopped "
                                          "after its receipt, before chain.json was written"))
        return only
    try:
        head = json.loads(head_path.read_text())
        latest, digest = head["latest"].split("/", 1)[0], head["sha256"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        problem(head_path, "chain head is missing or unreadable")
        return None
    if latest not in loaded:
        if not (handle_dir / latest / RECEIPT).is_file():
            problem(handle_dir / latest / RECEIPT, "newest receipt is missing (deleted?); chain.json names it")
        return latest
    if loaded[latest][1] != digest:
        problem(handle_dir / latest / RECEIPT, "newest receipt was edited (hash differs from chain.json)")
    pending = _pending_after(latest, links)
    for name in pending:
        report.interrupted.append(Problem(path=str(handle_dir / name / RECEIPT), problem="committed, but the run "
                                          "stopped before chain.json named it (the next run continues from it)"))
    for name in loaded if referenced is not None else ():
        if name != latest and name not in referenced and name not in pending:
            problem(handle_dir / name / RECEIPT, "receipt is outside the chain (no later receipt links to it)")
    return latest


def _pending_after(latest: str, links: dict[str, _Link]) -> list[str]:
    """The receipts after chain.json's head, each linking to the one before with its hash (as chain_head
    rolls forward); folder names only increase, so this ends."""
    chain, current = [], latest
    while True:
        link_to = f"{current}/{RECEIPT}"
        nxt = next((n for n in sorted(links) if n > current and links[n].previous == link_to
                    and links[n].previous_sha256 == links[current].sha256), None)
        if nxt is None:
            return chain
        chain.append(nxt)
        current = nxt
