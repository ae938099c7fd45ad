"""`optout recheck` end to end: the real command in a subprocess, a real headless Chromium, the real
keyring, the replica's truth and request log through its admin API, notifications delivered by apprise to
a local endpoint, and a secret scan over everything the tool wrote and printed."""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from filelock import FileLock, Timeout

from optout.config import load_settings
from optout.credentials import CredentialStore
from recordings.server import ReplicaServer
from tests.conftest import ROOT, TEST_SETTLE_MS, OptoutEnv
from tests.secrets_scan import find_leaks
from waiting import wait_until

PARTNERS = "allow_sharing_data_for_third_party_personalization"
GROK = "allow_xai_data_sharing"
SETTINGS_API = "/1.1/account/settings.json"
LOGIN_PATHS = ("/1.1/onboarding/task.json", "/i/jf/onboarding/api")


def password_of(handle: str) -> str:
    return f"pw-{handle}-Rech3ck!"


@pytest.fixture(scope="session")
def recheck_replica():
    """A replica of this module's own: the shared one is reset by every other module's tests, which
    would take the user's accounts with it."""
    server = ReplicaServer(settle_ms=TEST_SETTLE_MS).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def user(tmp_path_factory, recheck_replica):
    """One user for the worker's whole session (logging in costs a browser run; a module fixture was set
    up again each time another module's tests came between this one's): accounts stored and opted out
    once by `optout run`, so their sessions are saved. Each test sets the replica state it needs."""
    replica = recheck_replica
    replica.admin.set_policy(replica.admin.policy()["versions"][0])  # what the first opt-out reads
    home = tmp_path_factory.mktemp("recheck") / "home"
    for sub in ("data", "state", "config"):
        (home / sub).mkdir(parents=True)
    env = {**os.environ, "OPTOUT_BASE_URL": replica.base_url, "OPTOUT_DATA_DIR": str(home / "data"),
           "OPTOUT_STATE_DIR": str(home / "state"), "OPTOUT_CONFIG_DIR": str(home / "config"),
           "OPTOUT_CONFIG_FILE": str(home / "config" / "config.toml"),
           "OPTOUT_KEYRING_SERVICE": f"optout-test-{uuid.uuid4().hex[:8]}", "OPTOUT_TYPING_DELAY_MS": "0",
           "OPTOUT_PAUSE_MIN_MS": "0", "OPTOUT_PAUSE_MAX_MS": "0", "PYTHONPATH": str(ROOT)}
    user = OptoutEnv(home=home, base_url=replica.base_url, env=env)
    user.replica, user.handles = replica, ["rc_one", "rc_two"]
    for handle in user.handles:
        replica.admin.add_account({"handle": handle, "password": password_of(handle)})
    creds = tmp_path_factory.mktemp("input") / "creds.csv"
    with creds.open("w", newline="") as fh:
        csv.writer(fh).writerows([("handle", "password"), *[(h, password_of(h)) for h in user.handles]])
    assert user.run("accounts", "import", str(creds)).returncode == 0
    first = user.run("run", *user.handles)
    assert first.returncode == 0, first.stdout + first.stderr
    return user


@pytest.fixture
def env(user, inbox):
    """The session's user, notifying this test's inbox, with every account back to all-off."""
    user.env["OPTOUT_NOTIFY_URLS"] = json.dumps([inbox.url])
    user.replica.admin.clear_faults()
    for handle in user.handles:
        user.replica.admin.set_settings(handle, {PARTNERS: False, GROK: False})
    return user


def _secrets(env) -> list[str]:
    """Passwords and the session cookies in the keyring: none may show up anywhere."""
    settings = load_settings(keyring_service=env.env["OPTOUT_KEYRING_SERVICE"], base_url=env.base_url)
    secrets = [password_of(h) for h in env.handles]
    for handle in env.handles:
        session = CredentialStore(settings).load_session(handle)
        if session:
            secrets += [session.auth_token.get_secret_value(), session.ct0.get_secret_value()]
    return secrets


def _requests(replica, handle: str, since: int) -> list[dict]:
    return [r for r in replica.admin.requests(handle=handle) if r["seq"] > since]


def _last_seq(replica) -> int:
    return max((r["seq"] for r in replica.admin.requests()), default=0)


def _newest_policy(replica) -> str:
    return max(replica.admin.policy()["versions"], key=lambda v: int(str(v).rsplit("_", 1)[1]))


@pytest.mark.long
def test_policy_change_drift_repair_and_notification(env, inbox):
    replica = env.replica
    # 1. A recheck finds everything still off, and the policy the opt-out read: no login, no settings write,
    # nothing notified.
    log = env.home / "state" / "logs" / "optout.log"
    done_before = log.read_text().count("recheck: done") if log.exists() else 0
    mark = _last_seq(replica)
    quiet = env.run("recheck", "--all", "--json")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    report = json.loads(quiet.stdout)
    assert [r["outcome"] for r in report["results"]] == ["ok", "ok"]
    assert all(s["outcome"] == "already_off" for r in report["results"] for s in r["settings"])
    assert not any(r["logged_in"] for r in report["results"])
    receipt = json.loads(Path(report["results"][0]["receipt"]).read_text())
    assert receipt["privacy_policy_version"].startswith(report["policy"]["current"]["effective_label"])
    for handle in env.handles:
        seen = _requests(replica, handle, mark)
        assert seen, "the recheck did read the settings"
        assert not [r for r in seen if r["method"] == "POST" and r["path"] == SETTINGS_API]
        assert not [r for r in seen if r["path"] in LOGIN_PATHS]
    assert inbox.received == []

    # 2. A setting flips back on, but the policy is unchanged: --if-policy-changed touches no account.
    replica.admin.set_settings("rc_one", {PARTNERS: True})
    mark = _last_seq(replica)
    skipped = env.run("recheck", "--all", "--if-policy-changed")
    assert skipped.returncode == 0, skipped.stderr
    assert "No account touched" in skipped.stdout
    assert all(_requests(replica, h, mark) == [] for h in env.handles)
    assert replica.admin.get_account("rc_one")["settings"][PARTNERS] is True
    assert inbox.received == []

    # 3. X publishes a new policy: the recheck shows the diff, repairs the drift, notifies.
    replica.admin.set_policy(_newest_policy(replica))
    changed = env.run("recheck", "--all", "--if-policy-changed")
    assert changed.returncode == 0, changed.stdout + changed.stderr
    assert "X's privacy policy changed" in changed.stdout
    assert "Effective date changed from" in changed.stdout and "\n+Effective: " in changed.stdout
    assert replica.admin.get_account("rc_one")["settings"][PARTNERS] is False  # repaired, by the truth
    assert replica.admin.get_account("rc_two")["settings"][PARTNERS] is False

    assert len(inbox.received) == 1
    note = inbox.received[0]["body"]
    assert note["type"] == "warning"
    assert note["title"] == "optout: 1 setting(s) switched back off; X privacy policy changed"
    assert "Drift repaired on @rc_one: business-partners was on again" in note["message"]
    assert "rc_two" not in note["message"]
    assert "Effective date changed from" in note["message"]
    assert note["message"].endswith("Checked 2 account(s): 2 ok.")

    # 4. The history database holds each recheck's results, with fresh evidence for the repair.
    history = json.loads(env.run("history", "rc_one", "--json").stdout)
    assert [h["command"] for h in history[:2]] == ["recheck", "recheck"] and history[-1]["command"] == "run"
    repaired = history[0]["settings"]
    assert {s["setting"]: s["outcome"] for s in repaired} == {"business-partners": "turned_off",
                                                               "grok-training": "already_off"}
    assert history[0]["evidence_dir"] != history[1]["evidence_dir"]
    assert log.read_text().count("recheck: done") == done_before + 3

    assert find_leaks(_secrets(env), files=env.written_files(),
                      texts=env.outputs + [json.dumps(inbox.received)]) == []


def test_report_only_leaves_drift_on_and_exits_4(env, inbox):
    replica = env.replica
    replica.admin.set_settings("rc_two", {GROK: True})
    mark = _last_seq(replica)
    proc = env.run("recheck", "@rc_two", "--report-only", "--json")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["handle"] == "rc_two" and result["outcome"] == "drift"
    assert {s["setting"]: s["outcome"] for s in result["settings"]}["grok-training"] == "drift"
    assert replica.admin.get_account("rc_two")["settings"][GROK] is True  # still on: nothing was clicked
    assert not [r for r in _requests(replica, "rc_two", mark) if r["method"] == "POST" and r["path"] == SETTINGS_API]
    assert _requests(replica, "rc_one", mark) == []  # only the account asked for
    assert "Drift found on @rc_two: grok-training is on (report only: not changed)." in \
        inbox.received[0]["body"]["message"]

    unknown = env.run("recheck", "@nobody_here")
    assert unknown.returncode == 2 and "No stored account for @nobody_here" in unknown.stderr
    assert find_leaks(_secrets(env), files=env.written_files(), texts=env.outputs) == []


@pytest.mark.long
def test_overlapping_rechecks_wait_or_give_up(env):
    replica = env.replica
    replica.admin.add_fault({"kind": "slow", "handle": None, "count": None, "ms": 250})
    runs_before = _recheck_runs(env)
    first = subprocess.Popen([sys.executable, "-m", "optout", "recheck", "rc_one"], env=env.env, cwd=env.home,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_locked(env)
    patient = subprocess.Popen([sys.executable, "-m", "optout", "recheck", "rc_one", "--json"],
                               env={**env.env, "OPTOUT_LOCK_TIMEOUT_S": "240"}, cwd=env.home,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    hasty = env.run("recheck", "--all", extra_env={"OPTOUT_LOCK_TIMEOUT_S": "1"})
    assert hasty.returncode == 5, hasty.stdout + hasty.stderr
    assert "Another optout run is still working (waited 1 s for it), so this recheck did not start." in hasty.stderr
    out, err = first.communicate(timeout=240)
    assert first.returncode == 0, out + err
    out, err = patient.communicate(timeout=240)
    assert patient.returncode == 0, out + err
    assert json.loads(out)["results"][0]["outcome"] == "ok"
    assert _recheck_runs(env) == runs_before + 2  # the hasty one recorded no run
    with closing(sqlite3.connect(env.home / "state" / "optout.sqlite3")) as db:
        (_, first_end), (second_start, _) = db.execute(
            "SELECT started_at, finished_at FROM runs WHERE command = 'recheck' ORDER BY id DESC LIMIT 2"
        ).fetchall()[::-1]
    assert second_start >= first_end  # the patient one waited for the lock: one after the other
    env.replica.admin.clear_faults()


def _wait_until_locked(env) -> None:
    """Until some process holds the state dir's lock (the first recheck has started its work)."""
    lock = FileLock(env.home / "state" / "optout.lock")

    def held() -> bool:
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    wait_until(held, "the first recheck to take the lock", timeout=60, every=0.05)


def _recheck_runs(env) -> int:
    with closing(sqlite3.connect(env.home / "state" / "optout.sqlite3")) as db:
        return db.execute("SELECT count(*) FROM runs WHERE command = 'recheck'").fetchone()[0]


def _span(replica, handle: str, since: int) -> tuple[int, int]:
    seqs = [r["seq"] for r in _requests(replica, handle, since)]
    assert seqs, f"@{handle} was not checked"
    return min(seqs), max(seqs)


@pytest.mark.parametrize("concurrency", [1, 2])
def test_accounts_run_side_by_side_when_asked(env, concurrency):
    """`--concurrency` is the work queue of batch mode: two drifted accounts are repaired one after the
    other with 1, side by side with 2 (their requests interleave in the replica's log)."""
    replica = env.replica
    for handle in env.handles:
        replica.admin.set_settings(handle, {PARTNERS: True})
    mark = _last_seq(replica)
    proc = env.run("recheck", *env.handles, "--concurrency", str(concurrency), "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)["results"]
    assert [r["handle"] for r in results] == env.handles  # in the order named, however they finished
    for handle in env.handles:
        assert replica.admin.get_account(handle)["settings"][PARTNERS] is False  # repaired: the truth
    (a_first, a_last), (b_first, b_last) = (_span(replica, h, mark) for h in env.handles)
    overlap = max(a_first, b_first) < min(a_last, b_last)
    assert overlap is (concurrency > 1)


def test_challenge_breaker_stops_a_recheck_and_says_who_was_not_checked(env, inbox, tmp_path):
    """Logins that meet a captcha, twice in a row, mean X is blocking this machine: the recheck starts no
    further account, says which were left, notifies, and the accounts left got no request at all."""
    replica = env.replica
    blocked = ["rc_cap_a", "rc_cap_b"]
    for handle in blocked:
        replica.admin.add_account({"handle": handle, "password": password_of(handle), "captcha": True})
    creds = tmp_path / "creds.csv"
    creds.write_text("handle,password\n" + "".join(f"{h},{password_of(h)}\n" for h in blocked))
    assert env.run("accounts", "import", str(creds)).returncode == 0
    try:
        mark = _last_seq(replica)
        proc = env.run("recheck", *blocked, "rc_one", "--concurrency", "1", "--max-challenges", "2", "--json")
        assert proc.returncode == 3, proc.stdout + proc.stderr  # needs a human
        report = json.loads(proc.stdout)
        assert [(r["handle"], r["outcome"]) for r in report["results"]] == [(h, "needs_human") for h in blocked]
        assert report["not_started"] == ["rc_one"] and report["breaker_opened"] is True
        assert _requests(replica, "rc_one", mark) == []  # the truth: never touched
        for handle in blocked:
            assert [x["outcome"] for x in replica.admin.get_account(handle)["logins"]] == ["captcha"]
        message = inbox.received[-1]["body"]
        assert "1 account(s) not checked" in message["title"] and "Not checked: @rc_one." in message["message"]
        shown = env.run("recheck", *blocked, "rc_one", "--concurrency", "1", "--max-challenges", "2")
        assert "Not checked (1): @rc_one" in shown.stdout
    finally:
        for handle in blocked:
            env.run("accounts", "remove", handle)


def test_retention_prunes_routine_runs_and_verify_still_passes(env):
    """With prune_after_days set, a recheck removes the old routine runs (nothing changed, all off) and
    keeps the rest; the evidence still verifies against the history, chain gaps included."""
    from optout.evidence import Receipt
    from optout.prune import is_routine

    evidence = env.home / "data" / "evidence"
    env.replica.admin.set_settings("rc_one", {PARTNERS: True})
    assert env.run("recheck", *env.handles).returncode == 0  # rc_one repaired (kept), rc_two routine
    before = {p.parent: Receipt.model_validate_json(p.read_bytes()) for p in evidence.glob("*/*/receipt.json")}
    routine = {folder for folder, receipt in before.items() if is_routine(receipt)}
    assert routine and len(routine) < len(before)  # both kinds, whichever tests ran before this one
    proc = env.run("recheck", *env.handles, "--json", extra_env={"OPTOUT_PRUNE_AFTER_DAYS": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = {p.parent for p in evidence.glob("*/*/receipt.json")}
    assert set(before) - after == routine  # every older routine run went (the new ones are the newest)
    assert set(before) - routine <= after  # every run that changed, found or failed something stayed
    assert json.loads(proc.stdout)["pruned_runs"] == len(routine)
    verify = env.run("verify", "--json")
    assert verify.returncode == 0, verify.stdout
    again = env.run("prune", "--older-than-days", "0", "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["removed"] == []  # no routine run left but the newest


def test_a_dead_session_without_a_password_is_named_with_the_command_that_renews_it(env, inbox):
    """An account kept by its session alone (imported, no password): when X ends that session, the
    recheck's notification names the account and the command that renews it; nothing is typed."""
    handle = "rc_sess_" + uuid.uuid4().hex[:6]
    env.replica.admin.add_account({"handle": handle, "password": password_of(handle)})
    assert env.run("accounts", "add", handle, "--password-stdin", input=password_of(handle) + "\n").returncode == 0
    assert env.run("login", handle).returncode == 0
    settings = load_settings(keyring_service=env.env["OPTOUT_KEYRING_SERVICE"], base_url=env.base_url,
                             state_dir=env.env["OPTOUT_STATE_DIR"])
    session = CredentialStore(settings).load_session(handle)
    cookies = [session.auth_token.get_secret_value(), session.ct0.get_secret_value()]
    assert env.run("accounts", "remove", handle).returncode == 0
    assert env.run("session", "import", handle, "--stdin", input="\n".join(cookies) + "\n").returncode == 0
    env.replica.admin.expire_sessions(handle)
    logins = len(env.replica.admin.get_account(handle)["logins"])
    try:
        proc = env.run("recheck", "@" + handle)
    finally:  # the session's user keeps only its own accounts: later `recheck --all` must not meet this one
        assert env.run("accounts", "remove", handle).returncode == 0

    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert len(env.replica.admin.get_account(handle)["logins"]) == logins  # no login was tried
    message = " ".join(inbox.received[-1]["body"]["message"].split())
    assert f"@{handle} needs a person" in message and f"session of @{handle} has ended" in message
    assert f"optout session import {handle} --from-browser" in message
    assert find_leaks(cookies + [password_of(handle)], files=env.written_files(), texts=env.outputs) == []


@pytest.mark.long
def test_a_recheck_that_cannot_run_says_so_everywhere_until_one_runs(env, inbox):
    """A locked (here: unusable) keyring stops a scheduled recheck: exit 5, a failure record that doctor,
    history and the next command show, a notification, sent again by the next recheck when it could not
    go out the first time; the next recheck that runs clears it."""
    locked = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
              "OPTOUT_NOTIFY_URLS": json.dumps(["json://127.0.0.1:9/nobody-listens"])}
    failed = env.run("recheck", "--all", extra_env=locked)
    assert failed.returncode == 5, failed.stdout + failed.stderr
    doctor = json.loads(env.run("doctor", "--json").stdout)
    last = next(c for c in doctor["checks"] if c["name"] == "last recheck")
    assert last["ok"] is False and "did not run" in last["detail"] and "keyring" in last["detail"].lower()
    assert "not yet notified" in last["detail"]
    history = env.run("history", "--limit", "1")
    assert "did not run" in " ".join(history.stdout.split()) and "did not run" in history.stderr

    ran = env.run("recheck", "--all")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    titles = [m["body"]["title"] for m in inbox.received]
    assert "optout: recheck did not run" in titles  # the first failure's message, delivered late
    doctor = json.loads(env.run("doctor", "--json").stdout)
    assert next(c for c in doctor["checks"] if c["name"] == "last recheck")["ok"] is True
    assert "did not run" not in env.run("history", "--limit", "1").stderr
