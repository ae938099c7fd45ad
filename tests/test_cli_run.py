"""`optout run`, `check` and `verify` as a user runs them (the real keyring, the replica):
exit codes, the table and --json, evidence where asked, and no secret in anything written or printed."""

from __future__ import annotations

import hashlib
import re
import json
import stat
import uuid

import pytest

from optout.config import load_settings
from optout.credentials import CredentialStore
from secrets_scan import find_leaks
from terminal import run_in_terminal

PASSWORD = "s3cret-" + uuid.uuid4().hex[:10]
BP, GROK = "allow_sharing_data_for_third_party_personalization", "allow_xai_data_sharing"


def _add(env, replica, **scenario) -> str:
    handle = "cli_" + uuid.uuid4().hex[:8]
    replica.admin.add_account({"handle": handle, "password": PASSWORD, **scenario})
    proc = env.run("accounts", "add", handle, "--password-stdin", input=PASSWORD + "\n")
    assert proc.returncode == 0, proc.stderr
    return handle


def _posts(replica, handle):
    return [r for r in replica.admin.requests(handle=handle) if r["method"] == "POST"
            and r["path"].endswith("/account/settings.json")]


@pytest.mark.long
def test_run_check_drift_verify_and_tamper(optout_env, fresh_replica):
    env, replica = optout_env, fresh_replica
    handle = _add(env, replica)
    out = env.home / "evidence-here"

    dry = env.run("run", "@" + handle, "--dry-run", "--json", "--out", str(out))
    assert dry.returncode == 0, dry.stderr
    assert [s["outcome"] for s in json.loads(dry.stdout)[0]["settings"]] == ["would_turn_off"] * 2
    assert replica.admin.get_account(handle)["settings"][BP] is True and _posts(replica, handle) == []

    run = env.run("run", "@" + handle, "--out", str(out))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("turned_off") == 2 and handle in run.stdout
    truth = replica.admin.get_account(handle)["settings"]
    assert truth[BP] is False and truth[GROK] is False
    reading = json.loads(env.run("policy", "--json").stdout)
    assert reading["first_reading"] is False  # the runs read and recorded the policy already
    current = reading["current"]
    newest = max((p for p in (out / handle).iterdir() if p.is_dir()), key=lambda p: p.name)
    receipt = json.loads((newest / "receipt.json").read_text())
    assert receipt["privacy_policy_version"] == f"{current['effective_label']} (sha256 {current['text_hash'][:12]})"
    (entry,) = json.loads(env.run("history", handle, "--limit", "1", "--json").stdout)
    assert entry["receipt_path"] == str(newest / "receipt.json")
    assert entry["receipt_sha256"] == hashlib.sha256((newest / "receipt.json").read_bytes()).hexdigest()

    check = env.run("check", handle, "--json", "--out", str(out))
    assert check.returncode == 0, check.stderr
    assert [s["outcome"] for s in json.loads(check.stdout)[0]["settings"]] == ["already_off"] * 2

    replica.admin.set_settings(handle, {GROK: True})  # X flipped it back on
    posts = len(_posts(replica, handle))
    drift = env.run("check", handle, "--out", str(out))
    assert drift.returncode == 4, drift.stdout + drift.stderr
    assert "drift" in drift.stdout
    assert len(_posts(replica, handle)) == posts and replica.admin.get_account(handle)["settings"][GROK] is True

    for path in out.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    verify = env.run("verify", str(out))
    assert verify.returncode == 0, verify.stdout
    assert "4 receipt(s)" in verify.stdout

    runs = sorted(p for p in (out / handle).iterdir() if p.is_dir())
    image = runs[1] / "after-business-partners.png"
    image.write_bytes(image.read_bytes() + b"\0")
    (runs[2] / "receipt.json").unlink()
    bad = env.run("verify", str(out), "--json")
    assert bad.returncode == 1
    listed = json.loads(bad.stdout)["problems"]
    problems = {p["path"]: p["problem"] for p in listed}
    assert "changed" in problems[str(image)]
    assert "missing" in problems[str(runs[2] / "receipt.json")]
    # the history (in the state dir, not the evidence folder) recorded that receipt's hash: it is missed there too
    assert {"path": str(runs[2] / "receipt.json"),
            "problem": "receipt recorded in the history is missing (deleted?)"} in listed

    session = CredentialStore(load_settings(keyring_service=env.env["OPTOUT_KEYRING_SERVICE"], base_url=env.base_url)).load_session(handle)
    secrets = [PASSWORD, session.auth_token.get_secret_value(), session.ct0.get_secret_value()]
    assert find_leaks(secrets, files=env.written_files(), texts=env.outputs) == []
    assert not list(env.home.rglob("*.tmp"))


def test_bad_input_exit_codes(optout_env, fresh_replica):
    env = optout_env
    unknown_setting = env.run("run", "@someone", "--setting", "no-such-thing", process=True)  # `python -m optout`
    assert unknown_setting.returncode == 2
    assert "business-partners" in unknown_setting.stderr and "location-history" in unknown_setting.stderr
    unknown_account = env.run("run", "@nobody_here")
    assert unknown_account.returncode == 2 and "accounts add" in unknown_account.stderr
    assert env.run("verify", str(env.home / "missing"), process=True).returncode == 2


def test_a_missing_browser_is_a_clear_error_and_nothing_is_lost(optout_env, fresh_replica):
    """The browser starts while the command loads the rest: when there is none, the run still ends with the
    one-paragraph error and exit code 5, no traceback, X untouched and the stored password kept."""
    env, replica = optout_env, fresh_replica
    handle = _add(env, replica)
    proc = env.run("check", handle, extra_env={"OPTOUT_BROWSER": "/nonexistent/chrome", "OPTOUT_BROWSER_ENDPOINT": ""})
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "/nonexistent/chrome does not exist" in proc.stderr and "apt-get install chromium" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert replica.admin.requests(handle=handle) == []
    settings = load_settings(keyring_service=env.env["OPTOUT_KEYRING_SERVICE"], base_url=env.base_url)
    assert CredentialStore(settings).has(handle)


def test_selected_settings_and_failures_exit_1(optout_env, fresh_replica):
    env, replica = optout_env, fresh_replica
    handle = _add(env, replica, faults=[{"kind": "save_fails"}])
    proc = env.run("run", handle, "-s", "location-history", "-s", "business-partners", "--json")
    assert proc.returncode == 1, proc.stderr
    (result,) = json.loads(proc.stdout)
    assert result["outcome"] == "verify_failed"
    assert [s["setting"] for s in result["settings"]] == ["business-partners", "location-history"]
    truth = replica.admin.get_account(handle)["settings"]
    assert truth[GROK] is True  # not asked for
    assert find_leaks([PASSWORD], files=env.written_files(), texts=env.outputs) == []


def test_first_run_at_a_terminal_asks_for_the_password(optout_env, fresh_replica):
    """No password stored yet: `optout run` at a terminal asks for it (twice, hidden) and for no TOTP,
    keeps it in the keyring, then opts out; nothing typed is echoed or written."""
    env, replica = optout_env, fresh_replica
    handle = "first_" + uuid.uuid4().hex[:8]
    replica.admin.add_account({"handle": handle, "password": PASSWORD})
    shown = run_in_terminal(env, ["run", handle, "-s", "business-partners"], [PASSWORD, PASSWORD, "n"])
    assert f"X password for @{handle}" in shown and "turned_off" in shown
    assert replica.admin.get_account(handle)["settings"][BP] is False
    store = CredentialStore(load_settings(keyring_service=env.env["OPTOUT_KEYRING_SERVICE"], base_url=env.base_url))
    assert store.get(handle).password.get_secret_value() == PASSWORD
    assert find_leaks([PASSWORD], files=env.written_files(), texts=[shown]) == []


def test_a_one_shot_run_waits_for_the_rate_limit_reset_and_says_when(optout_env, fresh_replica):
    """`optout run` goes through the work queue too: X's rate limit on the settings API is waited out
    (announced with the clock time it resumes), then the account is done."""
    env, replica = optout_env, fresh_replica
    handle = _add(env, replica, faults=[{"kind": "rate_limit", "count": 1, "reset_s": 2,
                                          "path": "/1.1/account/settings.json"}])
    proc = env.run("run", handle, "-s", "business-partners", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(rf"@{handle} was rate limited: retrying in \d+ s \(at \d\d:\d\d:\d\d\)", " ".join(proc.stderr.split()))
    (result,) = json.loads(proc.stdout)
    assert result["outcome"] == "ok" and result["settings"][0]["outcome"] == "turned_off"
    assert replica.admin.get_account(handle)["settings"][BP] is False
    api = [r["status"] for r in replica.admin.requests(handle=handle) if r["path"].endswith("/account/settings.json")]
    assert api[0] == 429 and 200 in api[1:]  # X did refuse first, then answered after the wait
