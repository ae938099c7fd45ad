"""Issue 12 item 6: a disk that fills up during a run ends it with a clear error naming the folder, and
nothing half-written is left in the chain. The evidence goes to a small tmpfs mounted for the test (root
only), filled up to the byte with a filler file: a real ENOSPC from the kernel, not a mock."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from optout.errors import DiskFull
from optout.evidence import CHAIN, RECEIPT, EvidenceRun, Receipt, verify_tree, write_private
from optout.models import AccountOutcome, Mode

PNG = b"\x89PNG\r\n\x1a\n" + b"x" * 3000


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs; skipped where the test may not mount one (not root, no CAP_SYS_ADMIN)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave_pages: int = 0) -> Path:
    """Fill the file system, leaving `leave_pages` free blocks."""
    st = os.statvfs(mount)
    filler = mount / "filler"
    with open(filler, "wb") as fh:
        fh.write(b"\0" * ((st.f_bavail - leave_pages) * st.f_bsize))
    assert os.statvfs(mount).f_bavail == leave_pages
    return filler


def _receipt(run: EvidenceRun) -> Receipt:
    return Receipt(tool_version="t", handle="alice", base_url="http://x", mode=Mode.APPLY,
                   outcome=AccountOutcome.OK, started_at=run.started_at)


def _tmp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


def test_full_disk_at_the_receipt_names_the_folder_and_keeps_the_chain(tiny_disk):
    root = tiny_disk / "evidence"
    first = EvidenceRun(root, "alice")
    write_private(first.dir / "before-business-partners.png", PNG)
    first.write_receipt(_receipt(first))
    head = (root / "alice" / CHAIN).read_bytes()

    second = EvidenceRun(root, "alice")
    write_private(second.dir / "before-business-partners.png", PNG)  # one page, and the disk is full
    filler = _fill(tiny_disk)
    with pytest.raises(DiskFull) as caught:
        second.write_receipt(_receipt(second))
    assert str(second.dir) in caught.value.message and "full" in caught.value.message
    assert not (second.dir / RECEIPT).exists() and _tmp_files(root) == []
    assert (root / "alice" / CHAIN).read_bytes() == head  # the chain did not move
    report = verify_tree(root)
    assert report.problems == [] and report.ok
    assert [Path(n.path) for n in report.interrupted] == [second.dir]

    filler.unlink()  # room again: the next run continues the chain from the first
    third = EvidenceRun(root, "alice")
    write_private(third.dir / "before-business-partners.png", PNG)
    third.write_receipt(_receipt(third))
    assert Receipt.model_validate_json((third.dir / RECEIPT).read_bytes()).previous_receipt == f"{first.dir.name}/{RECEIPT}"
    assert verify_tree(root).problems == []


def test_optout_run_on_a_full_disk(optout_env, fresh_replica, tiny_disk):
    env, replica = optout_env, fresh_replica
    password = "pw-" + uuid.uuid4().hex[:10]
    handle = "full_" + uuid.uuid4().hex[:8]
    replica.admin.add_account({"handle": handle, "password": password})
    assert env.run("accounts", "add", handle, "--password-stdin", input=password + "\n").returncode == 0
    out = tiny_disk / "evidence"
    filler = _fill(tiny_disk)

    full = env.run("run", handle, "--out", str(out))
    assert full.returncode == 5, full.stdout + full.stderr
    assert "is full" in full.stderr and str(out / handle) in full.stderr.replace("\n", "")
    assert "Traceback" not in full.stderr
    assert not (out / handle / CHAIN).exists() and not list(out.rglob(RECEIPT)) and _tmp_files(out) == []
    verify = env.run("verify", str(out), "--json")
    body = json.loads(verify.stdout)
    assert verify.returncode == 0 and body["problems"] == [] and body["interrupted"], verify.stdout

    filler.unlink()
    again = env.run("run", handle, "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert replica.admin.get_account(handle)["settings"]["allow_xai_data_sharing"] is False
    verify = env.run("verify", str(out), "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["problems"] == [], verify.stdout
