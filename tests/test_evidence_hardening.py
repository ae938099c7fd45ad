"""Issue 12 item 7: receipts are data, not instructions. Image names stay in their run folder, a link
cycle is an error and not an endless loop, symbolic links inside the evidence tree are refused (the root
may be one), loose permissions are tightened or named, and damaged evidence fails `verify`."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from datetime import timedelta

import pytest

from optout.errors import BadInput
from optout.evidence import CHAIN, PRUNED, RECEIPT, EvidenceRun, Receipt, verify_tree, write_private
from optout.models import AccountOutcome, Mode, utcnow
from optout.report import build_report, latest_receipts

PNG = b"\x89PNG\r\n\x1a\n" + b"image"


def _run(root, n=0, mode=Mode.CHECK, handle="alice"):
    run = EvidenceRun(root, handle, started_at=utcnow() + timedelta(seconds=n))
    write_private(run.dir / "before-business-partners.png", PNG + str(n).encode())
    receipt = Receipt(tool_version="t", handle=handle, base_url="http://x", mode=mode,
                      outcome=AccountOutcome.OK, started_at=run.started_at)
    return run, run.write_receipt(receipt)


def _rewrite(path, **changes) -> None:
    """Edit a receipt's JSON as an attacker would (no model in the way)."""
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _problems(root):
    return [(p.path, p.problem) for p in verify_tree(root).problems]


@pytest.mark.parametrize("name", ["../../outside.png", "/etc/passwd", "sub/x.png", "..png", ".hidden.png",
                                  "x.png\n"])
def test_an_image_name_cannot_leave_its_run_folder(tmp_path, name):
    root = tmp_path / "ev"
    (tmp_path / "outside.png").write_bytes(b"secret outside the evidence")
    run, receipt_path = _run(root)
    _rewrite(receipt_path, images={name: hashlib.sha256(b"secret outside the evidence").hexdigest()})
    assert (str(receipt_path), "receipt is not a valid receipt (edited or damaged)") in _problems(root)
    with pytest.raises(BadInput):  # the report never reads (or embeds) a file the receipt points outside to
        build_report([receipt_path], tmp_path / "report.html")


def test_a_link_cannot_point_outside_the_handle(tmp_path):
    root = tmp_path / "ev"
    _run(root, handle="bob")
    _, first = _run(root, 0)
    _, second = _run(root, 1)
    _rewrite(second, previous_receipt="../bob/" + next((root / "bob").glob("*/receipt.json")).parent.name
             + "/receipt.json")
    assert any(p == str(second) and "not a valid receipt" in t for p, t in _problems(root))


def test_a_link_cycle_is_an_error_not_an_endless_loop(tmp_path):
    root = tmp_path / "ev"
    runs = [_run(root, n) for n in range(3)]  # check-only runs: the report walks back for an opt-out
    a, (b_dir, b) = runs[0][1], (runs[1][0].dir, runs[1][1])
    _rewrite(a, previous_receipt=f"{b_dir.name}/{RECEIPT}",
             previous_receipt_sha256=hashlib.sha256(b.read_bytes()).hexdigest())
    problems = _problems(root)
    assert (str(root / "alice"), "receipts link to each other in a cycle (edited: a real chain only goes back "
                                 "in time)") in problems
    with pytest.raises(BadInput, match="cycle"):
        build_report(latest_receipts(root), tmp_path / "report.html")


def test_a_cycle_through_pruned_entries_is_an_error(tmp_path):
    root = tmp_path / "ev"
    _, newest = _run(root, 5)
    x, y = "20200101T000000.000000Z", "20200102T000000.000000Z"
    entry = {"sha256": "0" * 64, "finished_at": "2020-01-01T00:00:00Z", "pruned_at": "2020-01-03T00:00:00Z"}
    (root / "alice" / PRUNED).write_text(json.dumps([
        {**entry, "receipt": f"{x}/{RECEIPT}", "previous_receipt": f"{y}/{RECEIPT}"},
        {**entry, "receipt": f"{y}/{RECEIPT}", "previous_receipt": f"{x}/{RECEIPT}"}]))
    _rewrite(newest, previous_receipt=f"{x}/{RECEIPT}", previous_receipt_sha256="0" * 64)
    assert any("cycle" in t for _, t in _problems(root))
    with pytest.raises(BadInput, match="cycle"):
        build_report([newest], tmp_path / "report.html")


def test_symbolic_links_inside_the_tree_are_refused_but_the_root_may_be_one(tmp_path):
    real = tmp_path / "real-evidence"
    run, receipt_path = _run(real)
    link_root = tmp_path / "evidence-link"
    link_root.symlink_to(real)
    assert verify_tree(link_root).ok  # the user's own link to the folder is fine
    assert EvidenceRun(link_root, "alice").handle_dir == real / "alice"

    outside = tmp_path / "outside.png"
    outside.write_bytes(PNG + b"0")
    image = run.dir / "before-business-partners.png"
    image.unlink()
    image.symlink_to(outside)  # same bytes, same hash: only the link itself gives it away
    assert (str(image), "symbolic link inside the evidence folder (refused, not followed)") in _problems(real)
    assert not verify_tree(real).ok
    from optout.report import _row
    assert "symbolic link" in "".join(_row(receipt_path, tmp_path, True, {}).problems)  # the report refuses it too

    (real / "mallory").symlink_to(real / "alice", target_is_directory=True)
    refused = "symbolic link inside the evidence folder (refused, not followed)"
    assert (str(real / "mallory"), refused) in _problems(real)
    with pytest.raises(BadInput, match="symbolic link"):
        EvidenceRun(real, "mallory")  # a run never writes through a link


def test_loose_permissions_are_tightened_or_named(tmp_path, caplog):
    root = tmp_path / "ev"
    run, receipt_path = _run(root)
    os.chmod(root / "alice", 0o755)
    os.chmod(root, 0o755)
    os.chmod(receipt_path, 0o644)
    report = verify_tree(root)
    assert report.ok  # loose permissions are not tampering
    warned = {w.path for w in report.warnings}
    assert {str(root / "alice"), str(receipt_path)} <= warned
    with caplog.at_level(logging.WARNING, logger="optout.evidence"):
        EvidenceRun(root, "alice", started_at=utcnow() + timedelta(seconds=9))
    assert stat.S_IMODE((root / "alice").stat().st_mode) == 0o700  # ours: tightened
    assert stat.S_IMODE(root.stat().st_mode) == 0o755  # the user's folder: named in a warning
    assert any(str(root) in r.getMessage() and "chmod 700" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("damage", ["chain-not-utf8", "chain-is-a-list", "receipt-not-utf8", "pruned-garbage",
                                    "sig-garbage"])
def test_damaged_evidence_fails_verify(tmp_path, damage):
    root = tmp_path / "ev"
    run, receipt_path = _run(root)
    _run(root, 1)
    if damage == "chain-not-utf8":
        (root / "alice" / CHAIN).write_bytes(b"\xff\xfe{")
    elif damage == "chain-is-a-list":
        (root / "alice" / CHAIN).write_text("[1, 2]")
    elif damage == "receipt-not-utf8":
        receipt_path.write_bytes(b"\xff" * 10)
    elif damage == "pruned-garbage":
        (root / "alice" / PRUNED).write_text('{"x": ')
    else:
        _rewrite(receipt_path, signing_key="abcd" * 4)
        (run.dir / "receipt.sig").write_bytes(b"\x00garbage")
    report = verify_tree(root)
    assert report.problems and not report.ok, damage
