"""The replica's faults and page furniture: every fault kind from CONTRACT.md, the cookie banner and the
welcome dialog. Each test checks what the page shows and, separately, what the server holds."""

from __future__ import annotations

import time

from playwright.sync_api import expect

from replica_fixtures import (
    PARTNER_FIELD,
    PARTNERS,
    checkboxes,
    details,
    open_setting,
    toast,
)
from waiting import wait_until

SETTINGS_JSON = "/1.1/account/settings.json"


def click_and_wait_for_save(page):
    with page.expect_response(lambda r: r.request.method == "POST" and SETTINGS_JSON in r.url) as resp:
        checkboxes(page).first.click()
    return resp.value


def test_save_fails_toast_box_stays_truth_unchanged(fake_x, logged_in):
    page = logged_in("savefails")
    open_setting(page, fake_x.base_url, PARTNERS)
    assert click_and_wait_for_save(page).status == 500
    expect(toast(page)).to_be_visible()
    expect(checkboxes(page).first).not_to_be_checked()  # as the user left it: only a reload tells
    assert fake_x.admin.get_account("savefails")["settings"][PARTNER_FIELD] is True
    page.reload()
    expect(checkboxes(page).first).to_be_checked()


def test_save_reverts_later(fake_x, logged_in):
    """A save X accepts and quietly undoes. The accounts file's "reverts" undoes after 300 ms; this one
    waits 2 s, so that a slow machine still reads the truth before the flip."""
    fake_x.admin.add_account({"handle": "reverts_2s", "password": "pw-reverts-2s-Q9",
                              "faults": [{"kind": "save_reverts", "after_ms": 2000}]})
    page = logged_in("reverts_2s", password="pw-reverts-2s-Q9")
    open_setting(page, fake_x.base_url, PARTNERS)
    resp = click_and_wait_for_save(page)
    assert resp.status == 200 and resp.json()[PARTNER_FIELD] is False
    assert fake_x.admin.get_account("reverts_2s")["settings"][PARTNER_FIELD] is False
    wait_until(lambda: fake_x.admin.get_account("reverts_2s")["settings"][PARTNER_FIELD] is True, "the save to revert")
    page.reload()
    expect(checkboxes(page).first).to_be_checked()


def test_rate_limit_429_with_headers(fake_x, logged_in):
    page = logged_in("alice")
    open_setting(page, fake_x.base_url, PARTNERS)
    fake_x.admin.add_fault({"kind": "rate_limit", "handle": "alice", "count": 1, "reset_s": 30})
    resp = click_and_wait_for_save(page)
    assert resp.status == 429
    assert resp.headers["x-rate-limit-remaining"] == "0"
    assert int(resp.headers["x-rate-limit-reset"]) >= int(time.time()) + 25
    expect(toast(page)).to_have_text("You are over the limit for this action. Please try again later.")
    assert fake_x.admin.get_account("alice")["settings"][PARTNER_FIELD] is True
    assert [f for f in fake_x.admin.faults() if f["handle"] == "alice"] == []  # count 1: used up


def test_rate_limit_code88_answers_200_with_errors(fake_x, logged_in):
    page = logged_in("alice")
    open_setting(page, fake_x.base_url, PARTNERS)
    fake_x.admin.add_fault({"kind": "rate_limit", "handle": "alice", "style": "code88", "path": SETTINGS_JSON})
    resp = click_and_wait_for_save(page)
    assert resp.status == 200 and resp.json()["errors"][0]["code"] == 88
    assert "x-rate-limit-reset" in resp.headers
    expect(toast(page)).to_be_visible()
    assert fake_x.admin.get_account("alice")["settings"][PARTNER_FIELD] is True


def test_ratelimited_fixture_fails_the_page_load_too(fake_x, logged_in):
    page = logged_in("ratelimited")
    page.goto(fake_x.base_url + PARTNERS)
    expect(details(page)).to_contain_text("Something went wrong. Try reloading.")


def test_went_wrong_pane_retry_refetches(fake_x, logged_in):
    page = logged_in("wentwrong")
    page.goto(fake_x.base_url + PARTNERS)
    expect(details(page)).to_contain_text("Something went wrong. Try reloading.")
    expect(checkboxes(page)).to_have_count(0)
    details(page).get_by_role("button", name="Retry").click()
    expect(checkboxes(page).first).to_be_checked()


def test_slow_adds_delay(fake_x, logged_in):
    page = logged_in("alice")
    fake_x.admin.add_fault({"kind": "slow", "handle": "alice", "ms": 900, "path": SETTINGS_JSON})
    started = time.monotonic()
    open_setting(page, fake_x.base_url, PARTNERS)
    assert time.monotonic() - started >= 0.9


def test_not_found_fault(fake_x, logged_in):
    page = logged_in("notfound")
    page.goto(fake_x.base_url + "/settings/grok_settings")
    expect(details(page)).to_contain_text("Hmm...this page doesn't exist.")
    open_setting(page, fake_x.base_url, "/settings/ads_preferences")  # the others are fine


def test_moved_page_lives_under_privacy_and_safety(fake_x, logged_in):
    page = logged_in("moved")
    page.goto(fake_x.base_url + PARTNERS)
    expect(details(page)).to_contain_text("Hmm...this page doesn't exist.")
    page.goto(fake_x.base_url + "/settings/privacy_and_safety")
    row = page.locator('[data-testid="privacyAndSafetyScreen"] a[role="link"]', has_text="Data sharing with business partners")
    expect(row).to_have_attribute("href", "/settings/privacy_and_safety/data_sharing_with_business_partners")
    row.click()
    expect(checkboxes(page).first).to_be_checked()
    click_and_wait_for_save(page)
    assert fake_x.admin.get_account("moved")["settings"][PARTNER_FIELD] is False


def test_session_expired_fault_now_and_on_a_path(fake_x, logged_in):
    page = logged_in("alice")
    fake_x.admin.add_fault({"kind": "session_expired", "handle": "alice", "path": "/settings/grok_settings"})
    open_setting(page, fake_x.base_url, PARTNERS)  # other paths still work
    page.goto(fake_x.base_url + "/settings/grok_settings")
    page.wait_for_url("**/i/flow/login?redirect_after_login=%2Fsettings%2Fgrok_settings")
    page = logged_in("bob")
    fake_x.admin.add_fault({"kind": "session_expired", "handle": "bob"})
    assert fake_x.admin.get_account("bob")["live_sessions"] == 0
    assert [f for f in fake_x.admin.faults() if f["handle"] == "bob"] == []  # acted at once, not stored


def test_cookie_banner_and_welcome_dialog_are_in_the_way_until_dismissed(fake_x, logged_in):
    page = logged_in("banner")
    page.goto(fake_x.base_url + PARTNERS)
    dialog = page.locator('div[role="dialog"]')
    expect(dialog).to_contain_text("Willkommen bei x.com!")
    bar = page.locator('div[data-testid="BottomBar"]')
    expect(bar.get_by_role("button")).to_have_text(["Alle Cookies akzeptieren", "Nicht notwendige Cookies ablehnen"])
    box = bar.bounding_box()
    assert box["y"] + box["height"] == 800 and box["height"] > 250  # fixed at the bottom, large
    # The dialog's mask intercepts clicks meant for the page.
    hit = page.evaluate("() => { const r = document.querySelector('input[type=checkbox]').getBoundingClientRect();"
                        " return document.elementFromPoint(r.x + 5, r.y + 5).closest('[role=dialog], .modal-mask') !== null; }")
    assert hit
    dialog.locator('button[data-testid="app-bar-close"]').click()
    expect(dialog).to_have_count(0)
    bar.get_by_role("button", name="Nicht notwendige Cookies ablehnen").click()
    expect(bar).to_have_count(0)
    page.reload()
    expect(checkboxes(page).first).to_be_visible()
    expect(page.locator('div[data-testid="BottomBar"]')).to_have_count(0)
    expect(page.locator('div[role="dialog"]')).to_have_count(0)
