"""Evidence on disk: private files written whole, receipts chained per handle, and `verify_tree` naming
every kind of tampering (changed, removed or added image; edited or deleted receipt; broken chain)."""

from __future__ import annotations

import json
import stat
from datetime import timedelta

import pytest

from optout.errors import BadInput
from optout.evidence import CHAIN, RECEIPT, EvidenceRun, Receipt, verify_tree, write_private
from optout.models import AccountOutcome, Mode, utcnow

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image body "


def _run(root, handle="alice", n=0, images=("before-business-partners", "after-business-partners")):
    """One run folder with images and its receipt; `n` spaces the folders apart in time."""
    run = EvidenceRun(root, handle, started_at=utcnow() + timedelta(seconds=n))
    for name in images:
        write_private(run.dir / f"{name}.png", PNG + name.encode())
    receipt = Receipt(tool_version="t", handle=handle, base_url="http://x", mode=Mode.APPLY,
                      outcome=AccountOutcome.OK, started_at=run.started_at)
    return run, run.write_receipt(receipt)


def _problems(root):
    return [(p.path, p.problem) for p in verify_tree(root).problems]


def test_layout_permissions_and_chain(tmp_path):
    root = tmp_path / "evidence"
    runs = [_run(root, n=i) for i in range(3)]
    for run, receipt_path in runs:
        assert receipt_path == run.dir / RECEIPT
        assert stat.S_IMODE(run.dir.stat().st_mode) == 0o700
        for f in run.dir.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert stat.S_IMODE((root / "alice").stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert not list(root.rglob("*.tmp"))
    first = Receipt.model_validate_json(runs[0][1].read_bytes())
    second = Receipt.model_validate_json(runs[1][1].read_bytes())
    assert first.previous_receipt is None and sorted(first.images) == ["after-business-partners.png",
                                                                       "before-business-partners.png"]
    assert second.previous_receipt == f"{runs[0][0].dir.name}/{RECEIPT}"
    import hashlib
    assert second.previous_receipt_sha256 == hashlib.sha256(runs[0][1].read_bytes()).hexdigest()
    head = json.loads((root / "alice" / CHAIN).read_text())
    assert head["latest"] == f"{runs[2][0].dir.name}/{RECEIPT}"
    report = verify_tree(root)
    assert report.ok and report.receipts == 3 and report.images == 6, report.problems


def test_verify_accepts_handle_and_run_folders(tmp_path):
    root = tmp_path / "ev"
    _run(root, "alice")
    run, _ = _run(root, "bob")
    assert verify_tree(root / "bob").ok
    assert verify_tree(run.dir).ok
    assert verify_tree(root).receipts == 2


def test_changed_removed_and_added_images_are_named(tmp_path):
    root = tmp_path / "ev"
    run, _ = _run(root)
    (run.dir / "before-business-partners.png").write_bytes(PNG + b"edited")
    (run.dir / "after-business-partners.png").unlink()
    (run.dir / "extra.png").write_bytes(PNG)
    problems = dict(_problems(root))
    assert "changed" in problems[str(run.dir / "before-business-partners.png")]
    assert "missing" in problems[str(run.dir / "after-business-partners.png")]
    assert "not listed" in problems[str(run.dir / "extra.png")]


def test_deleted_middle_receipt_is_named(tmp_path):
    root = tmp_path / "ev"
    runs = [_run(root, n=i) for i in range(3)]
    runs[1][1].unlink()
    problems = _problems(root)
    paths = {p for p, _ in problems}
    assert str(runs[1][1]) in paths, problems
    assert any("missing" in text for _, text in problems)


def test_deleted_newest_run_is_caught_by_the_chain_head(tmp_path):
    root = tmp_path / "ev"
    runs = [_run(root, n=i) for i in range(2)]
    import shutil
    shutil.rmtree(runs[1][0].dir)
    problems = _problems(root)
    assert [p for p, t in problems if "newest receipt is missing" in t] == [str(runs[1][1])]


def test_edited_receipt_breaks_the_chain(tmp_path):
    root = tmp_path / "ev"
    runs = [_run(root, n=i) for i in range(3)]
    data = json.loads(runs[0][1].read_text())
    data["outcome"] = "verify_failed"  # a plausible lie, still a valid receipt
    runs[0][1].write_text(json.dumps(data))
    problems = _problems(root)
    assert any(p == str(runs[0][1]) and "chain broken" in t for p, t in problems), problems
    newest = json.loads(runs[2][1].read_text())
    newest["message"] = "edited"
    runs[2][1].write_text(json.dumps(newest))
    assert any(p == str(runs[2][1]) and "newest receipt was edited" in t for p, t in _problems(root))


def test_history_anchor_catches_what_the_folder_alone_cannot(tmp_path):
    """Someone who rewrites the newest receipt and chain.json together, or deletes the newest run and points
    chain.json back, leaves a consistent folder; the hashes the history recorded still disagree."""
    import hashlib
    import shutil

    root = tmp_path / "ev"
    runs = [_run(root, n=i) for i in range(3)] + [_run(root, "bob")]
    recorded = {str(r): hashlib.sha256(r.read_bytes()).hexdigest() for _, r in runs}
    assert verify_tree(root, recorded).ok

    newest = json.loads(runs[2][1].read_text())
    newest["outcome"] = "verify_failed"
    runs[2][1].write_text(json.dumps(newest))
    head = root / "alice" / CHAIN
    head.write_text(json.dumps({"latest": f"{runs[2][0].dir.name}/{RECEIPT}",
                                "sha256": hashlib.sha256(runs[2][1].read_bytes()).hexdigest()}))
    assert verify_tree(root).ok  # the folder alone cannot tell
    assert [(p.path, p.problem) for p in verify_tree(root, recorded).problems] == [
        (str(runs[2][1]), "receipt differs from the SHA-256 the history recorded when it was written")]

    shutil.rmtree(runs[2][0].dir)  # the newest run gone, and chain.json pointed at the one before
    head.write_text(json.dumps({"latest": f"{runs[1][0].dir.name}/{RECEIPT}",
                                "sha256": hashlib.sha256(runs[1][1].read_bytes()).hexdigest()}))
    assert verify_tree(root).ok
    assert [p.problem for p in verify_tree(root / "alice", recorded).problems] == [
        "receipt recorded in the history is missing (deleted?)"]

    shutil.rmtree(root / "bob")  # a whole account's evidence gone: seen when the whole folder is checked
    assert [p.path for p in verify_tree(root, recorded).problems] == [str(runs[2][1]), str(runs[3][1])]


def test_unlinked_receipt_and_garbage_are_reported(tmp_path):
    root = tmp_path / "ev"
    runs = [_run(root, n=i) for i in range(2)]
    data = json.loads(runs[1][1].read_text())
    data["previous_receipt"] = data["previous_receipt_sha256"] = None  # cut out of the chain
    runs[1][1].write_text(json.dumps(data))
    assert any("chain broken" in t or "edited" in t for _, t in _problems(root))
    runs[0][1].write_text("{not json")
    assert any(p == str(runs[0][1]) and "not a valid receipt" in t for p, t in _problems(root))


def test_missing_folder_and_empty_tree(tmp_path):
    with pytest.raises(BadInput):
        verify_tree(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    assert not verify_tree(tmp_path / "empty").ok


def test_atomic_write_leaves_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.json"
    write_private(target, b"old")
    import os

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_private(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


@pytest.mark.parametrize(("base_url", "site"), [
    ("https://x.com", "https://x.com"),
    ("https://twitter.com", "https://x.com"),  # the site the keyring binds X's secrets to (optout.site)
    ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ("http://", None),  # no host: no site named, and the receipt is still written
])
def test_the_receipt_names_the_site(tmp_path, base_url, site):
    run = EvidenceRun(tmp_path, "alice")
    receipt = Receipt(tool_version="t", handle="alice", base_url=base_url, mode=Mode.CHECK,
                      outcome=AccountOutcome.OK, started_at=run.started_at)
    assert json.loads(run.write_receipt(receipt).read_text())["site"] == site
