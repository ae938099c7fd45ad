"""Issue 12 item 8 (optional part): RFC 3161 timestamps of receipts, against a local time-stamping
authority the test starts: a test CA, a TSA certificate (extendedKeyUsage timeStamping), and
`openssl ts -reply` behind a small HTTP handler."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from optout.evidence import CHAIN, RECEIPT, EvidenceRun, Receipt, verify_tree, write_private
from optout.models import AccountOutcome, Mode
from optout.timestamp import TIMESTAMP, load_roots
from local_server import port_of, serving
from secrets_scan import find_leaks

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed for the local TSA")

TS_CNF = """[ tsa ]
default_tsa = tsa_config1
[ tsa_config1 ]
serial = {dir}/tsaserial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256, sha384, sha512
accuracy = secs:1
ess_cert_id_alg = sha256
certs = {dir}/tsa.crt
"""


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
             f"{name}.key", "-out", f"{name}.crt", "-days", "30", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
             cwd=folder)


class SLOW:
    """How long the module's TSA takes to answer, and whether it has been asked since `slow_tsa` began."""

    delay_s = 0.0
    asked = threading.Event()


@pytest.fixture
def slow_tsa(tsa):
    """The module's TSA, answering after 1.5 s."""
    SLOW.delay_s = 1.5
    SLOW.asked.clear()
    yield tsa
    SLOW.delay_s = 0.0


@pytest.fixture(scope="module")
def tsa():
    """A TSA on localhost; yields (url, CA certificate path)."""
    folder = Path(tempfile.mkdtemp(prefix="optout-tsa-"))
    _make_ca(folder, "ca")
    _make_ca(folder, "other-ca")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "tsa.key",
             "-out", "tsa.csr", "-subj", "/CN=Test TSA", cwd=folder)
    (folder / "tsa.ext").write_text("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                                    "extendedKeyUsage=critical,timeStamping\n")
    _openssl("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "tsa.crt", "-days", "30", "-extfile", "tsa.ext", cwd=folder)
    (folder / "tsaserial").write_text("01\n")
    (folder / "ts.cnf").write_text(TS_CNF.format(dir=folder))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's name)
            query = self.rfile.read(int(self.headers["Content-Length"]))
            SLOW.asked.set()
            time.sleep(SLOW.delay_s)
            with lock:
                (folder / "q.tsq").write_bytes(query)
                subprocess.run(["openssl", "ts", "-reply", "-queryfile", "q.tsq", "-config", "ts.cnf", "-inkey",
                                "tsa.key", "-signer", "tsa.crt", "-out", "r.tsr"], cwd=folder, check=True,
                               capture_output=True)
                answer = (folder / "r.tsr").read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield f"http://127.0.0.1:{port_of(server)}/tsa", folder
    shutil.rmtree(folder, ignore_errors=True)


def _run(root, tsa_url, n=0):
    from datetime import timedelta

    from optout.models import utcnow

    run = EvidenceRun(root, "alice", started_at=utcnow() + timedelta(seconds=n), tsa_url=tsa_url)
    write_private(run.dir / "before-business-partners.png", b"\x89PNG image")
    receipt = Receipt(tool_version="t", handle="alice", base_url="https://x.com", mode=Mode.APPLY,
                      outcome=AccountOutcome.OK, started_at=run.started_at)
    return run, asyncio.run(run.commit(receipt))


def test_receipts_get_a_trusted_timestamp_that_verify_checks(tmp_path, tsa):
    url, folder = tsa
    root = tmp_path / "ev"
    run, receipt_path = _run(root, url)
    assert (run.dir / TIMESTAMP).is_file()
    roots = load_roots([folder / "ca.crt"])
    report = verify_tree(root, tsa_roots=roots)
    assert report.ok and report.timestamped == 1, report.problems

    wrong = verify_tree(root, tsa_roots=load_roots([folder / "other-ca.crt"]))
    assert [p.path for p in wrong.problems] == [str(run.dir / TIMESTAMP)]
    assert "does not verify against the --tsa-cert" in wrong.problems[0].problem

    data = json.loads(receipt_path.read_text())
    data["outcome"] = "verify_failed"
    receipt_path.write_text(json.dumps(data))
    (root / "alice" / CHAIN).write_text(json.dumps({"latest": f"{run.dir.name}/{RECEIPT}",
                                                    "sha256": hashlib.sha256(receipt_path.read_bytes()).hexdigest()}))
    assert [p.problem for p in verify_tree(root).problems] == [
        "timestamp is for other bytes than this receipt (edited after it was timestamped)"]


def _receipt(run) -> Receipt:
    return Receipt(tool_version="t", handle="alice", base_url="https://x.com", mode=Mode.APPLY,
                   outcome=AccountOutcome.OK, started_at=run.started_at)


def test_a_slow_tsa_holds_up_no_other_account(tmp_path, slow_tsa):
    """A batch's accounts share one event loop: while one receipt waits for its timestamp, the others
    go on (here a stand-in account that steps every 50 ms), and the timestamp still comes."""
    url, folder = slow_tsa
    run = EvidenceRun(tmp_path / "ev", "alice", tsa_url=url)
    write_private(run.dir / "before-business-partners.png", b"\x89PNG image")

    async def commit_beside_another_account() -> int:
        steps = 0

        async def another_account() -> None:
            nonlocal steps
            while True:
                await asyncio.sleep(0.05)
                steps += 1

        other = asyncio.ensure_future(another_account())
        await run.commit(_receipt(run))
        other.cancel()
        return steps

    steps = asyncio.run(commit_beside_another_account())
    assert steps >= 15, steps  # 1.5 s of waiting for the TSA, not a stalled loop (0 steps)
    report = verify_tree(tmp_path / "ev", tsa_roots=load_roots([folder / "ca.crt"]))
    assert report.ok and report.timestamped == 1, report.problems


def test_a_cancel_while_the_tsa_answers_commits_the_finished_run_without_its_timestamp(tmp_path, slow_tsa, caplog):
    """Ctrl-C while the TSA answers: the run did finish, so its receipt is committed at once as it is,
    without the timestamp (logged); the cancel goes on."""
    url, _ = slow_tsa
    run = EvidenceRun(tmp_path / "ev", "alice", tsa_url=url)

    async def cancelled_while_stamping() -> None:
        commit = asyncio.ensure_future(run.commit(_receipt(run)))
        assert await asyncio.to_thread(SLOW.asked.wait, 10)  # the TSA has the request
        commit.cancel()
        with pytest.raises(asyncio.CancelledError):
            await commit

    started = time.monotonic()
    asyncio.run(cancelled_while_stamping())
    assert time.monotonic() - started < 1.5  # did not wait for the TSA's answer
    receipt = json.loads((run.dir / RECEIPT).read_text())
    assert receipt["outcome"] == "ok" and receipt["interrupted"] is None
    assert not (run.dir / TIMESTAMP).exists() and verify_tree(tmp_path / "ev").ok
    assert any("timestamp: skipped" in r.getMessage() for r in caplog.records)


def test_a_cancel_that_comes_with_the_answer_is_not_lost(monkeypatch):
    """The TSA's answer and a Ctrl-C in the same turn of the event loop: the cancel wins (asyncio.wait_for
    on Python 3.11 could return the answer and drop the cancel, and a batch would go on)."""
    from optout import daemon_thread, timestamp

    asked = []

    class HeldThread:  # runs its work when the test says, not on its own
        def __init__(self, target, name, daemon):
            asked.append(target)

        def start(self):
            pass

    monkeypatch.setattr(daemon_thread, "Thread", HeldThread)
    monkeypatch.setattr(timestamp, "_ask", lambda url, data, deadline: b"token")

    async def answered_and_cancelled() -> None:
        stamping = asyncio.ensure_future(timestamp.stamp("http://127.0.0.1:9/tsa", b"receipt"))
        while not asked:
            await asyncio.sleep(0)
        asked[0]()  # the answer is on its way to the loop...
        stamping.cancel()  # ...and so is the cancel
        with pytest.raises(asyncio.CancelledError):
            await stamping

    asyncio.run(answered_and_cancelled())


@pytest.mark.parametrize("tsa_url", [
    "http://127.0.0.1:9/tsa", "http://tsa-user:Pw-S3cret-1@127.0.0.1:9/tsa?key=K3y-S3cret-2"])
def test_an_unreachable_tsa_costs_only_the_timestamp(tmp_path, caplog, tsa_url):
    """...and the log names the TSA without the password or key its URL holds."""
    run, receipt_path = _run(tmp_path / "ev", tsa_url)
    assert receipt_path.is_file() and not (run.dir / TIMESTAMP).exists()
    assert verify_tree(tmp_path / "ev").ok
    logged = [r.getMessage() for r in caplog.records if "timestamp: none from" in r.getMessage()]
    assert len(logged) == 1 and "127.0.0.1:9/tsa" in logged[0]
    assert find_leaks(["Pw-S3cret-1", "K3y-S3cret-2"], texts=logged) == []


def test_verify_tsa_cert_on_the_command_line(optout_env, tmp_path, tsa):
    url, folder = tsa
    root = tmp_path / "ev"
    _run(root, url)
    ok = optout_env.run("verify", str(root), "--tsa-cert", str(folder / "ca.crt"), "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["timestamped"] == 1, ok.stdout + ok.stderr
    assert optout_env.run("verify", str(root), "--tsa-cert", str(folder / "other-ca.crt")).returncode == 1
    (tmp_path / "junk.pem").write_text("junk")
    bad = optout_env.run("verify", str(root), "--tsa-cert", str(tmp_path / "junk.pem"))
    assert bad.returncode == 2 and "not a readable PEM certificate" in bad.stderr


def test_a_tsa_that_trickles_its_answer_is_given_up_on_in_time(monkeypatch, caplog):
    """urllib's timeout bounds each socket read, and a TSA that sends a byte now and then never trips it:
    TSA_TIMEOUT_S bounds the whole request (a receipt never waits longer for its timestamp)."""
    from optout import timestamp

    def ask(url: str) -> bytes | None:
        return asyncio.run(timestamp.stamp(url, b"receipt"))

    monkeypatch.setattr(timestamp, "TSA_TIMEOUT_S", 1)
    finished, hung_up = threading.Event(), threading.Event()

    class Trickling(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802  (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "30")
            self.end_headers()
            try:
                for _ in range(30):  # 30 bytes, one every 0.2 s: 6 s in all, each read well under 1 s
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            except OSError:  # the client closed the connection
                hung_up.set()
                return
            finished.set()

        def log_message(self, *args):
            pass

    with serving(ThreadingHTTPServer(("127.0.0.1", 0), Trickling)) as server:
        assert ask(f"http://127.0.0.1:{port_of(server)}/tsa") is None
        assert not finished.is_set()  # given up on while the TSA was still answering
        assert [r.getMessage() for r in caplog.records if r.name == "optout.timestamp"] == [
            f"timestamp: none from http://127.0.0.1:{port_of(server)}/tsa: no complete answer within 1 s"]
        assert hung_up.wait(5) and not finished.is_set()  # the abandoned request stopped reading too


def test_a_command_stamps_its_receipt(optout_env, fresh_replica, tsa):
    """The runner's path (`EvidenceRun.commit`): `optout run` against the replica with a TSA configured
    leaves a receipt that `verify --tsa-cert` finds timestamped."""
    url, folder = tsa
    fresh_replica.admin.add_account({"handle": "stamped", "password": "pw-stamped-T5a!"})
    assert optout_env.run("accounts", "add", "stamped", "--password-stdin", input="pw-stamped-T5a!\n").returncode == 0
    out = optout_env.home / "evidence"
    ran = optout_env.run("run", "stamped", "--setting", "business-partners", "--out", str(out),
                         extra_env={"OPTOUT_TSA_URL": url})
    assert ran.returncode == 0, ran.stdout + ran.stderr
    verified = optout_env.run("verify", str(out), "--tsa-cert", str(folder / "ca.crt"), "--json")
    assert verified.returncode == 0 and json.loads(verified.stdout)["timestamped"] == 1, verified.stdout
