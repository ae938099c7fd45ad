"""`--use-browser-session`: optout works in the logged-in window of the user's own Chrome (started with
--remote-debugging-port and its own --user-data-dir, as Chrome 136+ requires), for one account, and leaves
the user's tabs and cookies alone. Batch and several accounts refuse it."""

from __future__ import annotations

import re
import subprocess
import uuid

import pytest
from playwright.sync_api import sync_playwright

from optout.browser import LAUNCH_ARGS, find_browser
from optout.config import load_settings

BP, GROK = "allow_sharing_data_for_third_party_personalization", "allow_xai_data_sharing"


@pytest.fixture
def users_chrome(tmp_path):
    """A Chromium as a person starts it for optout: a profile of its own and a debugging port (headless
    here, so its user agent is set to what the headed browser says)."""
    binary = str(find_browser(load_settings()).path)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    major = re.search(r"(\d+)\.\d+\.\d+\.\d+", version).group(1)
    agent = f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{major}.0.0.0 Safari/537.36"
    proc = subprocess.Popen(
        [binary, "--headless", "--no-sandbox", *LAUNCH_ARGS, f"--user-agent={agent}", "--remote-debugging-port=0",
         f"--user-data-dir={tmp_path / 'own-profile'}", "about:blank"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    endpoint = next(f"http://{m.group(1)}" for line in proc.stderr
                    if (m := re.search(r"DevTools listening on ws://([^/]+)/", line)))
    proc.stderr.close()
    yield endpoint
    proc.kill()
    proc.wait()


def test_run_in_the_users_own_logged_in_browser(optout_env, fresh_replica, users_chrome):
    handle, password = "own_" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex[:12]
    fresh_replica.admin.add_account({"handle": handle, "password": password})
    with sync_playwright() as pw:
        browser = pw.chromium.connect_over_cdp(users_chrome)
        context = browser.contexts[0]
        mine = context.pages[0]  # the person logs in in their own tab, and keeps another one open
        mine.goto(fresh_replica.base_url + "/i/flow/login")
        mine.locator('input[autocomplete="username"]').fill(handle)
        mine.locator('input[autocomplete="username"]').press("Enter")
        mine.locator('input[name="password"]').fill(password)
        mine.locator('[data-testid="LoginForm_Login_Button"]').click()
        mine.wait_for_url(re.compile(r".*/home$"))
        cookies_before = {c["name"]: c["value"] for c in context.cookies()}
        logins = len(fresh_replica.admin.get_account(handle)["logins"])

        # a process of its own: this thread runs Playwright's sync loop
        result = optout_env.run("--browser-endpoint", users_chrome, "--use-browser-session", "run", handle, "--json",
                                process=True)

        assert result.returncode == 0, result.stdout + result.stderr
        truth = fresh_replica.admin.get_account(handle)["settings"]
        assert truth[BP] is False and truth[GROK] is False
        assert len(fresh_replica.admin.get_account(handle)["logins"]) == logins  # no login by optout
        assert context.pages == [mine] and mine.url.endswith("/home")  # optout's tabs closed, the person's kept
        assert {c["name"]: c["value"] for c in context.cookies()} == cookies_before  # cookies untouched
        browser.close()  # disconnects; the person's browser lives on


def test_not_logged_in_is_needs_human_and_nothing_is_typed(optout_env, fresh_replica, users_chrome):
    handle, password = "own_" + uuid.uuid4().hex[:6], "pw-" + uuid.uuid4().hex[:12]
    fresh_replica.admin.add_account({"handle": handle, "password": password})
    assert optout_env.run("accounts", "add", handle, "--password-stdin", input=password + "\n").returncode == 0
    result = optout_env.run("--browser-endpoint", users_chrome, "--use-browser-session", "check", handle)
    assert result.returncode == 3 and "is not logged in to X as @" + handle in " ".join((result.stdout + result.stderr).split())
    assert fresh_replica.admin.get_account(handle)["logins"] == []  # optout typed no password there


def test_refused_for_batch_and_for_several_accounts(optout_env, fresh_replica, tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("handle\nalice\n")
    batch = optout_env.run("--browser-endpoint", "http://127.0.0.1:9", "--use-browser-session", "batch", str(accounts))
    assert batch.returncode == 2 and "refuses --use-browser-session" in " ".join(batch.stderr.split())
    several = optout_env.run("--browser-endpoint", "http://127.0.0.1:9", "--use-browser-session", "check", "alice", "bob")
    assert several.returncode == 2 and "one account at a time" in " ".join(several.stderr.split())
    alone = optout_env.run("--use-browser-session", "check", "alice", extra_env={"OPTOUT_BROWSER_ENDPOINT": ""})
    assert alone.returncode == 2 and "needs browser_endpoint" in " ".join(alone.stderr.split())
