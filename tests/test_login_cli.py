"""`optout login` as a user runs it: unattended with the keyring's password (and TOTP), with a person at
the terminal for an email code, a person at a visible browser (--interactive, under Xvfb), and the
refusals. After each, a scan of every file the tool wrote and everything it printed finds no password,
TOTP secret, code or cookie value."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyotp
import pytest

from optout.config import load_settings
from optout.credentials import CredentialStore
from tests.secrets_scan import find_leaks
from tests.terminal import run_in_terminal
from waiting import wait_until


def stored(optout_env) -> CredentialStore:
    e = optout_env.env
    return CredentialStore(load_settings(keyring_service=e["OPTOUT_KEYRING_SERVICE"], state_dir=e["OPTOUT_STATE_DIR"],
                                         base_url=e["OPTOUT_BASE_URL"]))


def new_account(optout_env, replica, *, totp=False, **scenario) -> tuple[str, list[str]]:
    """A replica account added with `optout accounts add` (secrets on stdin); returns it and its secrets."""
    handle = "cli_" + uuid.uuid4().hex[:8]
    password = "pw-" + uuid.uuid4().hex[:14]
    secret = pyotp.random_base32() if totp else None
    replica.admin.add_account({"handle": handle, "password": password, "totp_secret": secret, **scenario})
    args = ["accounts", "add", handle, "--password-stdin"] + (["--totp-secret-stdin"] if totp else [])
    added = optout_env.run(*args, input=password + "\n" + (secret + "\n" if secret else ""))
    assert added.returncode == 0, added.stderr
    return handle, [password] + ([secret] if secret else [])


def session_values(optout_env, handle) -> list[str]:
    session = stored(optout_env).load_session(handle)
    return [session.auth_token.get_secret_value(), session.ct0.get_secret_value()] if session else []


def assert_no_leaks(optout_env, secrets):
    assert find_leaks(secrets, optout_env.written_files(), optout_env.outputs) == []


def test_login_once_then_the_session_is_reused(optout_env, fresh_replica):
    handle, secrets = new_account(optout_env, fresh_replica, totp=True, flow="new", language="es")
    first = optout_env.run("login", "@" + handle, "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["fresh_login"] is True
    since = fresh_replica.admin.requests()[-1]["seq"]
    again = optout_env.run("login", handle, "--json")
    assert json.loads(again.stdout)["fresh_login"] is False
    assert [r for r in fresh_replica.admin.requests(since=since) if "onboarding" in r["path"]] == []
    assert len(fresh_replica.admin.get_account(handle)["logins"]) == 1
    cookies = session_values(optout_env, handle)
    assert len(cookies) == 2
    assert_no_leaks(optout_env, secrets + cookies)


def test_imported_session_is_used_without_any_password(optout_env, fresh_replica):
    """Cookies pasted from a browser are enough: no password stored, no login request."""
    handle, secrets = new_account(optout_env, fresh_replica)
    assert optout_env.run("login", handle).returncode == 0
    cookies = session_values(optout_env, handle)
    assert optout_env.run("accounts", "remove", handle).returncode == 0
    imported = optout_env.run("session", "import", handle, "--stdin", input="\n".join(cookies) + "\n")
    assert imported.returncode == 0, imported.stderr
    since = fresh_replica.admin.requests()[-1]["seq"]
    again = optout_env.run("login", handle, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["fresh_login"] is False
    assert [r for r in fresh_replica.admin.requests(since=since) if "onboarding" in r["path"]] == []
    assert_no_leaks(optout_env, secrets + cookies)


def test_wrong_password_exit_1_tried_once_with_a_masked_screenshot(optout_env, fresh_replica):
    handle, _ = new_account(optout_env, fresh_replica)
    wrong = "pw-wrong-" + uuid.uuid4().hex[:8]
    optout_env.run("accounts", "add", handle, "--password-stdin", input=wrong + "\n")
    result = optout_env.run("login", handle)
    assert result.returncode == 1 and "tried once" in result.stderr
    logins = fresh_replica.admin.get_account(handle)["logins"]
    assert [(x["password_tried"], x["outcome"]) for x in logins] == [(True, "wrong_password")]
    shots = list((optout_env.home / "data" / "login-screens" / handle).glob("login-login_failed-*.png"))
    assert len(shots) == 1 and str(shots[0]) in " ".join(result.stderr.split())
    assert_no_leaks(optout_env, [wrong])


def test_email_code_typed_at_the_terminal(optout_env, fresh_replica):
    handle, secrets = new_account(optout_env, fresh_replica, email_code=True)
    codes = []

    def person_reads_mailbox(shown: str) -> str:
        codes.append(fresh_replica.admin.get_account(handle)["email_code"])
        return codes[-1]

    output = run_in_terminal(optout_env, ["login", handle], [], answer_for=person_reads_mailbox)
    assert "logged in" in output and len(codes) == 1
    assert fresh_replica.admin.get_account(handle)["logins"][-1]["outcome"] == "success"
    assert_no_leaks(optout_env, secrets + codes + session_values(optout_env, handle))


def test_email_code_unattended_needs_a_human(optout_env, fresh_replica):
    handle, secrets = new_account(optout_env, fresh_replica, email_code=True)
    result = optout_env.run("login", handle, "--json")
    error = json.loads(result.stdout)
    assert result.returncode == 3 and error["error"] == "NeedsHuman" and "--interactive" in error["hint"]
    code = fresh_replica.admin.get_account(handle)["email_code"]
    assert stored(optout_env).load_session(handle) is None
    assert_no_leaks(optout_env, secrets + [code])


def test_login_without_a_stored_password_is_bad_input(optout_env):
    result = optout_env.run("login", "nobody_here")
    assert result.returncode == 2 and "accounts add" in result.stderr


def test_login_without_a_keyring_is_exit_5(optout_env):
    result = optout_env.run("login", "alice", extra_env={"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    assert result.returncode == 5 and "keyring.backends.fail.Keyring" in result.stderr


# ---- a person at a visible browser ----


@pytest.fixture(scope="module")
def display():
    """An X display: the one we are in, else a private Xvfb started for these tests."""
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    if not (shutil.which("Xvfb") and shutil.which("xdotool")):
        pytest.skip("needs Xvfb and xdotool (scripts/setup installs them)")
    number = next(n for n in range(91, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists()
                  and not Path(f"/tmp/.X{n}-lock").exists())
    xvfb = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x1000x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while not Path(f"/tmp/.X11-unix/X{number}").exists():
        assert time.monotonic() < deadline and xvfb.poll() is None, "Xvfb did not start"
        time.sleep(0.1)
    yield f":{number}"
    xvfb.terminate()
    xvfb.wait(10)


def xdo(display, *args):
    return subprocess.run(["xdotool", *args], env={**os.environ, "DISPLAY": display}, check=True,
                          capture_output=True, text=True, timeout=30).stdout


def onboarding_answers(replica) -> list[dict]:
    return [r for r in replica.admin.requests() if r["method"] == "POST" and "onboarding" in r["path"] and r["status"] == 200]


def test_interactive_login_a_person_finishes_in_the_visible_browser(optout_env, fresh_replica, display):
    """The tool opens the login page with the account name typed; the person (xdotool) presses Enter,
    types the password, then solves the captcha (the replica's admin `human` endpoint); the tool notices
    and stores the session."""
    handle, secrets = new_account(optout_env, fresh_replica, captcha=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "optout", "login", handle, "--interactive", "--wait", "90", "--json"],
        env={**optout_env.env, "DISPLAY": display, "OPTOUT_BROWSER_ENDPOINT": ""},  # its own, visible browser
        cwd=optout_env.home, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    told = ""
    try:
        for _ in range(20):  # the person waits until the tool says it is their turn
            told += proc.stderr.readline()
            if "Finish logging in" in told:
                break
        assert "Finish logging in" in told, told
        window = xdo(display, "search", "--sync", "--onlyvisible", "--class", "chromium").split()[0]
        xdo(display, "windowfocus", "--sync", window)  # no window manager: give the window the keyboard
        xdo(display, "key", "--clearmodifiers", "Return")
        wait_until(lambda: len(onboarding_answers(fresh_replica)) >= 2, "the password screen")
        time.sleep(0.8)  # the page draws the screen after its answer
        xdo(display, "type", "--delay", "40", secrets[0])
        xdo(display, "key", "--clearmodifiers", "Return")
        last_login = lambda: fresh_replica.admin.get_account(handle)["logins"][-1:]  # noqa: E731
        wait_until(lambda: [entry["outcome"] for entry in last_login()] == ["captcha"], "the captcha")
        fresh_replica.admin.human(handle)  # the person solved the puzzle
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    optout_env.outputs += [told, out, err]
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert report["interactive"] is True and report["fresh_login"] is True
    assert fresh_replica.admin.get_account(handle)["logins"][-1]["outcome"] == "success"
    cookies = session_values(optout_env, handle)
    assert len(cookies) == 2
    assert_no_leaks(optout_env, secrets + cookies)
