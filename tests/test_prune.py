"""Evidence retention: `prune` removes old routine runs only, keeps what matters, and leaves a chain that
`verify_tree` still follows; a receipt passed off as pruned is caught by the history."""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import timedelta

import pytest

from optout.errors import BadInput
from optout.evidence import PRUNED, RECEIPT, EvidenceRun, PrunedReceipt, Receipt, SettingRecord, verify_tree, write_private
from optout.models import AccountOutcome, Mode, SettingOutcome, utcnow
from optout.prune import prune

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 5000

# (days ago, mode, account outcome, setting outcomes): alice's runs, oldest first
ALICE = [
    (100, Mode.APPLY, AccountOutcome.OK, ["turned_off", "already_off"]),  # the opt-out itself: kept
    (90, Mode.CHECK, AccountOutcome.OK, ["already_off", "already_off"]),  # routine: pruned
    (80, Mode.APPLY, AccountOutcome.OK, ["already_off", "already_off"]),  # a recheck that found all off
    (70, Mode.CHECK, AccountOutcome.DRIFT, ["drift", "already_off"]),  # found one on: kept
    (60, Mode.CHECK, AccountOutcome.OK, ["already_off", "already_off"]),  # routine: pruned
    (50, Mode.APPLY, AccountOutcome.LOGIN_FAILED, []),  # a failure: kept
    (40, Mode.CHECK, AccountOutcome.OK, ["already_off", "already_off"]),  # routine, but the newest: kept
]


def _write(root, handle, days_ago, mode, outcome, setting_outcomes):
    at = utcnow() - timedelta(days=days_ago)
    run = EvidenceRun(root, handle, started_at=at)
    settings = []
    for i, outcome_i in enumerate(setting_outcomes):
        write_private(run.dir / f"before-s{i}.png", PNG + f"{i}-{days_ago}".encode())
        settings.append(SettingRecord(setting=f"s{i}", outcome=SettingOutcome(outcome_i)))
    receipt = Receipt(tool_version="t", handle=handle, base_url="http://x", mode=mode, outcome=outcome,
                      started_at=at, finished_at=at + timedelta(seconds=5), settings=settings)
    return run.write_receipt(receipt)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "evidence"
    receipts = [_write(root, "alice", *row) for row in ALICE] + [_write(root, "bob", 365, Mode.CHECK, AccountOutcome.OK,
                                                                         ["already_off"])]
    # what the history database would hold: every receipt's hash, and which runs were routine
    recorded = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in receipts}
    routine = {str(receipts[i]) for i in (1, 2, 4, 6, 7)}
    return root, receipts, recorded, routine


def test_only_old_routine_runs_go_and_the_chain_still_verifies(tree):
    root, receipts, recorded, routine = tree
    preview = prune(root, 30, dry_run=True)
    assert [r.folder for r in preview.removed] == [str(receipts[i].parent) for i in (1, 2, 4)]
    assert all(p.is_file() for p in receipts) and not (root / "alice" / PRUNED).exists()

    done = prune(root, 30)
    assert [r.folder for r in done.removed] == [r.folder for r in preview.removed]
    assert done.kept == 5 and done.bytes_freed > 3 * 10_000
    assert [p.is_file() for p in receipts] == [True, False, False, True, False, True, True, True]
    listed = json.loads((root / "alice" / PRUNED).read_text())
    assert [e["receipt"] for e in listed] == [f"{receipts[i].parent.name}/{RECEIPT}" for i in (1, 2, 4)]

    report = verify_tree(root, recorded, routine)
    assert report.ok and report.receipts == 5, report.problems
    assert verify_tree(root).ok  # without the history too
    assert prune(root, 30).removed == []  # a second prune finds nothing more

    assert prune(root, 0, handles=["@bob"]).removed == []  # bob's only run is his newest


def test_recent_runs_stay(tree):
    root, receipts, *_ = tree
    assert [r.folder for r in prune(root, 85).removed] == [str(receipts[1].parent)]


def test_a_receipt_passed_off_as_pruned_is_caught_by_the_history(tree):
    """Deleting the opt-out's own run and listing it in pruned.json fools the folder, not the history."""
    root, receipts, recorded, routine = tree
    prune(root, 30)
    opt_out = receipts[0]
    forged = PrunedReceipt(receipt=f"{opt_out.parent.name}/{RECEIPT}", sha256=recorded[str(opt_out)],
                           finished_at=utcnow(), pruned_at=utcnow())
    listed = json.loads((root / "alice" / PRUNED).read_text()) + [json.loads(forged.model_dump_json())]
    (root / "alice" / PRUNED).write_text(json.dumps(listed))
    shutil.rmtree(opt_out.parent)
    assert verify_tree(root).ok  # the folder alone cannot tell: a documented limit
    problems = [(p.path, p.problem) for p in verify_tree(root, recorded, routine).problems]
    assert problems == [(str(opt_out), "receipt is listed as pruned, but the history says that run changed or "
                                       "found something")]


def test_damaged_pruned_list_is_named_and_blocks_pruning(tree):
    root, *_ = tree
    prune(root, 30)
    (root / "alice" / PRUNED).write_text("not json")
    assert any(p.problem.startswith("the list of pruned receipts is unreadable") for p in verify_tree(root).problems)
    with pytest.raises(BadInput, match="pruned.json is unreadable"):
        prune(root, 30)
    with pytest.raises(BadInput, match="no evidence folder"):
        prune(root / "nowhere", 30)
