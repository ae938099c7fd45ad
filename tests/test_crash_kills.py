"""Issue 12 item 5: an interrupted run never looks like tampering.

Runs are killed at every step of the commit order (images, receipt.sig, receipt.json, chain.json, history
row) and at random moments, and `verify` is run after each kill: it must name the crash state as
interrupted and never report a problem, and the next run must continue the chain. The kill points are
reached by fault injection, not by timing: strace delivers SIGKILL (or SIGINT) on entry to the N-th
fsync/rename/write system call of the process, so each kill lands exactly between two steps. The product
has no hook for this; strace watches it from outside.

The step kills drive `tests/commit_driver.py` (the evidence commit of one run, as the runner does it, in a
process of its own: a browser run per kill point would take minutes); the SIGINT and random kills drive
the real `optout run` against the replica.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from optout.config import load_settings
from optout.evidence import CHAIN, RECEIPT, RUN_FOLDER_RE, Receipt, chain_head, verify_tree
from optout.store import recorded_receipts
from worker_keyring import restart_keyring

pytestmark = pytest.mark.skipif(shutil.which("strace") is None, reason="strace is needed (scripts/setup installs it)")

DRIVER = Path(__file__).with_name("commit_driver.py")
ROOT = Path(__file__).resolve().parents[1]
RENAME_RE = re.compile(r'^rename\("[^"]*", "([^"]*)"\)')


class World:
    """A private optout home: env for subprocesses, settings for checking in this process."""

    def __init__(self, home: Path, base_url: str = "http://127.0.0.1:9") -> None:
        self.home = home
        self.env = {**os.environ, "OPTOUT_DATA_DIR": str(home / "data"), "OPTOUT_STATE_DIR": str(home / "state"),
                    "OPTOUT_CONFIG_DIR": str(home / "config"), "OPTOUT_BASE_URL": base_url,
                    "OPTOUT_CONFIG_FILE": str(home / "config" / "config.toml"),
                    "OPTOUT_KEYRING_SERVICE": f"optout-test-{uuid.uuid4().hex[:8]}",
                    "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]), "PYTHONDONTWRITEBYTECODE": "1"}
        self.settings = load_settings(data_dir=home / "data", state_dir=home / "state", config_dir=home / "config",
                                      keyring_service=self.env["OPTOUT_KEYRING_SERVICE"])

    def commit(self, handle: str, inject: str | None = None, trace: Path | None = None) -> subprocess.CompletedProcess:
        """One run's evidence commit, under strace; `inject` e.g. 'fsync:signal=SIGKILL:when=7'. A killed
        run may leave gnome-keyring about to abort: the keyring is restarted after it
        (tests/worker_keyring.py)."""
        cmd = ["strace", "-qq", "-o", str(trace or os.devnull), "-e", "trace=fsync,rename,write,openat"]
        cmd += ["-e", f"inject={inject}"] if inject else []
        cmd += [sys.executable, str(DRIVER), handle]
        try:
            return subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        finally:
            if inject:
                restart_keyring()

    def verify(self):
        hashes, routine = recorded_receipts(self.settings)
        return verify_tree(self.settings.evidence_root, hashes, routine)


def _calls(trace: Path) -> list[tuple[str, str | None]]:
    """(syscall, renamed-to file) for each fsync/rename/write in an strace log, in order."""
    out = []
    for line in trace.read_text().splitlines():
        if line.startswith("fsync("):
            out.append(("fsync", None))
        elif line.startswith(("write(", "openat(")):
            out.append((line.split("(", 1)[0], None))
        elif m := RENAME_RE.match(line):
            out.append(("rename", Path(m.group(1)).name))
    return out


def _last_commit(trace: Path) -> str | None:
    """The file the killed run committed last (rename completed before the kill), or None."""
    lines = trace.read_text().splitlines()
    done = [RENAME_RE.match(line) for line in lines if line.startswith("rename(") and "= 0" in line]
    return Path(done[-1].group(1)).name if done else None


def _runs(world: World, handle: str) -> list[Path]:
    handle_dir = world.settings.evidence_root / handle
    return sorted(p for p in handle_dir.iterdir() if p.is_dir() and RUN_FOLDER_RE.match(p.name)) \
        if handle_dir.is_dir() else []


def _check_interrupted_only(world: World, handle: str, last: str | None, before: list[Path]):
    """verify after a kill: no problem at all; each run folder is in the chain or named as interrupted;
    the kill's own state is classified by what it had committed."""
    report = world.verify()
    assert report.problems == [], (last, report.problems)
    handle_dir = world.settings.evidence_root / handle
    runs = _runs(world, handle)
    notes = {Path(n.path): n.problem for n in report.interrupted}
    for run in runs:
        assert (run / RECEIPT).is_file() or run in notes or not any(run.iterdir()), run
    new = [run for run in runs if run not in before]
    if not new:  # killed before it made its run folder (starting up, opening the history)
        assert last is None
        return report
    (newest,) = new
    if last is None or last.endswith(".png") or last == "receipt.sig":
        # died before receipt.json: a folder nothing links to (or not even that, before the first mkdir)
        assert "before its receipt was written" in notes.get(newest, "stopped before its receipt was written"), notes
        assert not (newest / RECEIPT).exists()
    elif last == RECEIPT:
        assert "before chain.json" in (notes.get(newest / RECEIPT) or notes.get(handle_dir / CHAIN, "")), notes
    else:  # chain.json committed: the evidence is whole; only the history row may be missing
        assert json.loads((handle_dir / CHAIN).read_text())["latest"] == f"{newest.name}/{RECEIPT}"
        assert not any(str(p).startswith(str(newest)) for p in notes), notes
    return report


def _committed_receipts(handle_dir: Path) -> list[Path]:
    return sorted(handle_dir.glob(f"*/{RECEIPT}"))


def _assert_one_chain(handle_dir: Path) -> None:
    """Every committed receipt is on the one chain that ends at chain.json's head."""
    head = chain_head(handle_dir)
    assert json.loads((handle_dir / CHAIN).read_text())["latest"] == f"{head.parent.name}/{RECEIPT}"
    seen, current = [], head
    while current is not None:
        seen.append(current)
        link = Receipt.model_validate_json(current.read_bytes()).previous_receipt
        current = handle_dir / link if link else None
    assert sorted(seen) == _committed_receipts(handle_dir)


@pytest.mark.long
def test_kill_9_at_every_step_of_the_commit_order_and_at_random(tmp_path):
    world = World(tmp_path / "home")
    handle = "alice"
    first = world.commit(handle)  # the first run, whole
    assert first.returncode == 0, first.stderr
    census = tmp_path / "census.trace"
    assert world.commit(handle, trace=census).returncode == 0
    calls = _calls(census)
    fsyncs = sum(1 for kind, _ in calls if kind == "fsync")
    opens = sum(1 for kind, _ in calls if kind == "openat")
    assert [name for kind, name in calls if kind == "rename"] == [
        "before-business-partners.png", "after-business-partners.png", "receipt.sig", RECEIPT, CHAIN]

    kills, states = 0, set()
    points = [f"fsync:signal=SIGKILL:when={k}" for k in range(1, fsyncs + 1)]
    points += [f"rename:signal=SIGKILL:when={k}" for k in range(1, 6)]
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    # random moments: the R-th file open (imports, config, keyring, sqlite, evidence) or write, whichever first
    points += [f"openat,write:signal=SIGKILL:when={rng.randint(1, opens)}" for _ in range(6)]
    for point in points:
        trace = tmp_path / f"kill-{kills}.trace"
        before = _runs(world, handle)
        proc = world.commit(handle, inject=point, trace=trace)
        assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), (point, seed, proc.returncode, proc.stderr)
        kills += 1
        last = _last_commit(trace)
        states.add(last)
        _check_interrupted_only(world, handle, last, before)
    assert kills >= 20
    # every step of the order was hit: nothing committed yet, each image, the signature, the receipt, chain.json
    assert {None, "before-business-partners.png", "after-business-partners.png", "receipt.sig", RECEIPT,
            CHAIN} <= states, states

    after = world.commit(handle)  # the next run continues the chain over all of that
    assert after.returncode == 0, after.stderr
    report = world.verify()
    assert report.ok and report.problems == [], report.problems
    assert report.signed == report.receipts and report.unsigned == 0
    _assert_one_chain(world.settings.evidence_root / handle)


def test_first_run_killed_between_receipt_and_chain_head(tmp_path):
    """The very first run of a handle dies after receipt.json, before chain.json exists."""
    world = World(tmp_path / "home")
    rehearsal = World(tmp_path / "rehearsal")  # the same first run, uninjected: which rename is chain.json's
    rehearsal.commit("bob", trace=tmp_path / "rehearsal.trace")
    renames = [name for call, name in _calls(tmp_path / "rehearsal.trace") if call == "rename"]
    trace = tmp_path / "kill.trace"
    proc = world.commit("bob", inject=f"rename:signal=SIGKILL:when={renames.index(CHAIN) + 1}", trace=trace)
    assert proc.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL), proc.stderr
    assert _last_commit(trace) == RECEIPT
    handle_dir = world.settings.evidence_root / "bob"
    assert not (handle_dir / CHAIN).exists()
    report = _check_interrupted_only(world, "bob", RECEIPT, [])
    assert report.ok
    assert world.commit("bob").returncode == 0
    assert world.verify().problems == [] and world.verify().interrupted == []
    _assert_one_chain(handle_dir)
    assert len(_committed_receipts(handle_dir)) == 2


# ---- the real command: Ctrl-C writes an interrupted receipt; kill -9 at a random moment ----


USER_ID = "1234567890123456789"


def _add(env, replica, password: str) -> str:
    handle = "kill_" + uuid.uuid4().hex[:8]
    replica.admin.add_account({"handle": handle, "password": password, "user_id": USER_ID})
    assert env.run("accounts", "add", handle, "--password-stdin", input=password + "\n").returncode == 0
    return handle


def _run_under_strace(env, inject: str, *args: str, sigint_ignored: bool = False) -> subprocess.CompletedProcess:
    """`optout ARGS` with strace's fault injection; `sigint_ignored`: started as a script's background job."""
    cmd = ["strace", "-qq", "-o", os.devnull, "-e", "trace=fsync,rename,write",
           "-e", f"inject={inject}",
           sys.executable, "-m", "optout", *args]
    ignore_sigint = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored else None
    proc = subprocess.run(cmd, env={**env.env, "PYTHONDONTWRITEBYTECODE": "1"}, capture_output=True, text=True,
                          timeout=180, cwd=env.home, preexec_fn=ignore_sigint)
    restart_keyring()  # the killed run may leave gnome-keyring about to abort (tests/worker_keyring.py)
    env.outputs += [proc.stdout, proc.stderr]
    return proc


@pytest.mark.long
def test_ctrl_c_and_kill_9_of_optout_run(optout_env, fresh_replica):
    env, replica = optout_env, fresh_replica
    password = "pw-" + uuid.uuid4().hex[:10]
    handle = _add(env, replica, password)
    out = env.home / "evidence"

    # Ctrl-C (SIGINT) as the first screenshot is committed: the run stops at its next step and commits
    # a receipt marked interrupted, holding what it had done; exit 130 (Typer's), no traceback.
    stopped = _run_under_strace(env, "rename:signal=SIGINT:when=1", "run", handle, "--out", str(out))
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr
    (receipt_path,) = (out / handle).glob(f"*/{RECEIPT}")
    receipt = Receipt.model_validate_json(receipt_path.read_bytes())
    assert receipt.interrupted and "SIGINT" in receipt.interrupted and receipt.outcome == "error"
    assert receipt.account_id == USER_ID and receipt.site == env.base_url.rstrip("/")
    verify = env.run("verify", str(out), "--json")
    assert verify.returncode == 0, verify.stdout
    body = json.loads(verify.stdout)
    assert body["problems"] == [] and any("interrupted" in n["problem"] for n in body["interrupted"])

    # kill -9 at a random moment of a whole run (a random write system call of the process)
    seed = random.randrange(10**6)
    when = random.Random(seed).randint(50, 3000)
    killed = _run_under_strace(env, f"write:signal=SIGKILL:when={when}", "run", handle, "--out", str(out))
    verify = env.run("verify", str(out), "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["problems"] == [], (seed, when, killed.returncode,
                                                                                    verify.stdout)

    final = env.run("run", handle, "--out", str(out))
    assert final.returncode == 0, final.stdout + final.stderr
    truth = replica.admin.get_account(handle)["settings"]
    assert truth["allow_sharing_data_for_third_party_personalization"] is False
    assert truth["allow_xai_data_sharing"] is False
    verify = env.run("verify", str(out), "--json")
    body = json.loads(verify.stdout)
    assert verify.returncode == 0 and body["problems"] == [] and body["signed"] == body["receipts"] >= 2
    _assert_one_chain(out / handle)


def test_sigterm_ends_a_run_as_ctrl_c_does_and_says_so(optout_env, fresh_replica):
    """systemd stopping a scheduled recheck, `kill` or a container stopping send SIGTERM: the run stops at
    its next step with a receipt marked interrupted that names SIGTERM, exit 143 (a shell's code for it),
    no traceback; verify calls it interrupted, never a problem."""
    env, replica = optout_env, fresh_replica
    handle = _add(env, replica, "pw-" + uuid.uuid4().hex[:10])
    out = env.home / "evidence"
    stopped = _run_under_strace(env, "rename:signal=SIGTERM:when=1", "run", handle, "--out", str(out))
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stdout + stopped.stderr
    assert "Traceback" not in stopped.stderr
    (receipt_path,) = (out / handle).glob(f"*/{RECEIPT}")
    receipt = Receipt.model_validate_json(receipt_path.read_bytes())
    assert receipt.interrupted and "SIGTERM" in receipt.interrupted and "Ctrl-C" not in receipt.interrupted
    assert receipt.outcome == "error"
    body = json.loads(env.run("verify", str(out), "--json").stdout)
    assert body["problems"] == [] and any("interrupted" in n["problem"] for n in body["interrupted"])


def test_sigterm_with_sigint_ignored_still_ends_the_run(optout_env, fresh_replica):
    """A background job of a script starts with SIGINT ignored; SIGTERM must not be swallowed there
    (systemd would wait, then kill -9): the process ends by SIGTERM as before, and verify is clean."""
    env, replica = optout_env, fresh_replica
    handle = _add(env, replica, "pw-" + uuid.uuid4().hex[:10])
    out = env.home / "evidence"
    proc = _run_under_strace(env, "rename:signal=SIGTERM:when=1", "run", handle, "--out", str(out),
                             sigint_ignored=True)
    assert proc.returncode == -signal.SIGTERM, proc.stdout + proc.stderr  # ended by it, at the first screenshot
    assert not list((out / handle).glob(f"*/{RECEIPT}"))
    body = json.loads(env.run("verify", str(out), "--json").stdout)
    assert body["problems"] == [] and body["interrupted"]
