"""A session taken from the person's own Chromium: real profiles made here (logged in to the replica
through its login page, then closed), one with the basic password store and one whose cookie key is
kept in the GNOME keyring, as on a Linux desktop. Each is imported with `--from-browser chromium
--browser-profile DIR`; `optout check` then works with zero logins (the replica's login history says
so) and no cookie value reaches anything optout wrote or printed."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import sync_playwright

from optout.browser import IGNORED_DEFAULT_ARGS, LAUNCH_ARGS, find_browser, honest_user_agent
from optout.config import load_settings
from optout.credentials import CredentialStore
from tests.secrets_scan import find_leaks

PARTNERS = "allow_sharing_data_for_third_party_personalization"
GROK = "allow_xai_data_sharing"


def logged_in_profile(base_url: str, profile_dir, handle: str, password: str, store: str) -> None:
    """A person's Chromium profile: log in on the replica's own login page, then close the browser."""
    ignore = [*IGNORED_DEFAULT_ARGS, "--password-store=basic"]  # Playwright's default; we name ours
    args = ["--no-sandbox", *LAUNCH_ARGS, f"--password-store={store}"]
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile_dir), executable_path=str(find_browser(load_settings()).path), args=args,
            ignore_default_args=ignore, user_agent=_honest_agent(pw, args, ignore))
        page = ctx.pages[0] if ctx.pages else ctx.new_page()
        page.goto(base_url + "/i/flow/login")
        page.locator('input[autocomplete="username"]').fill(handle)
        page.locator('input[autocomplete="username"]').press("Enter")
        page.locator('input[name="password"]').fill(password)
        page.locator('[data-testid="LoginForm_Login_Button"]').click()
        page.wait_for_url(re.compile(r".*/home$"))
        ctx.close()


def _honest_agent(pw, args, ignore) -> str:
    browser = pw.chromium.launch(executable_path=str(find_browser(load_settings()).path), args=args,
                                 ignore_default_args=ignore)
    try:
        return honest_user_agent(browser.new_browser_cdp_session().send("Browser.getVersion")["userAgent"])
    finally:
        browser.close()


def keyring_labels() -> set[str]:
    import secretstorage

    with secretstorage.dbus_init() as bus:
        return {item.get_label() for item in secretstorage.get_default_collection(bus).get_all_items()}


@pytest.mark.parametrize("store", ["basic", "gnome-libsecret"])
def test_import_from_chromium_profile_then_check_with_zero_logins(optout_env, fresh_replica, tmp_path, store):
    handle, password = "br_" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex[:12]
    fresh_replica.admin.add_account({"handle": handle, "password": password,
                                     "settings": {PARTNERS: False, GROK: False}})
    profile = tmp_path / "chromium-profile"
    logged_in_profile(fresh_replica.base_url, profile, handle, password, store)
    if store == "gnome-libsecret":  # the profile's cookie key really lives in the GNOME keyring
        assert "Chromium Safe Storage" in keyring_labels()
    logins = len(fresh_replica.admin.get_account(handle)["logins"])

    imported = optout_env.run("session", "import", handle, "--from-browser", "chromium",
                              "--browser-profile", str(profile), "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)[0]["session"] is True and json.loads(imported.stdout)[0]["password"] is False

    checked = optout_env.run("check", handle, "--setting", "business-partners", "--json")  # one page proves it
    assert checked.returncode == 0, checked.stderr
    assert {s["outcome"] for s in json.loads(checked.stdout)[0]["settings"]} == {"already_off"}
    assert len(fresh_replica.admin.get_account(handle)["logins"]) == logins  # no login at all
    assert fresh_replica.admin.get_account(handle)["settings"][PARTNERS] is False
    e = optout_env.env
    session = CredentialStore(load_settings(keyring_service=e["OPTOUT_KEYRING_SERVICE"], state_dir=e["OPTOUT_STATE_DIR"],
                                            base_url=fresh_replica.base_url)).load_session(handle)
    cookies = [session.auth_token.get_secret_value(), session.ct0.get_secret_value()]
    assert find_leaks(cookies, optout_env.written_files(), optout_env.outputs) == []


def test_a_dead_browser_session_is_refused_and_nothing_stored(optout_env, fresh_replica, tmp_path):
    handle, password = "br_" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex[:12]
    fresh_replica.admin.add_account({"handle": handle, "password": password})
    profile = tmp_path / "chromium-profile"
    logged_in_profile(fresh_replica.base_url, profile, handle, password, "basic")
    fresh_replica.admin.expire_sessions(handle)  # X logged the browser out since

    imported = optout_env.run("session", "import", handle, "--from-browser", "chromium", "--browser-profile", str(profile))
    assert imported.returncode == 2
    assert "not logged in to X as @" + handle in " ".join(imported.stderr.split())
    listed = optout_env.run("accounts", "list", "--json")
    assert handle not in listed.stdout


def test_doctor_names_the_profiles_holding_a_session_by_cookie_names_only(optout_env, fresh_replica, tmp_path):
    handle, password = "br_" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex[:12]
    fresh_replica.admin.add_account({"handle": handle, "password": password})
    home = tmp_path / "person"
    profile = home / ".config" / "chromium"
    logged_in_profile(fresh_replica.base_url, profile, handle, password, "basic")
    doctor = optout_env.run("doctor", "--json", extra_env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})
    checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
    found = checks["browser sessions"]
    assert found["ok"] is True and "chromium" in found["detail"] and str(profile / "Default") in found["detail"]
    assert "auth_token" in found["detail"] and "ct0" in found["detail"]
