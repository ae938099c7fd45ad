"""The replica's logged-in pages: home and its More menu, the settings layout, each setting page with its
server-side truth, CSRF, session expiry, 404s, languages."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from replica_fixtures import (
    PARTNER_FIELD,
    PARTNERS,
    checkboxes,
    details,
    open_setting,
)
from waiting import wait_until

# page path -> the API fields of its checkboxes, in page order (CONTRACT.md)
SETTING_PAGES = {
    "/settings/data_sharing_with_business_partners": ["allow_sharing_data_for_third_party_personalization"],
    "/settings/grok_settings": ["allow_xai_data_sharing", "allow_xai_personalization"],
    "/settings/ads_preferences": ["allow_ads_personalization"],
    "/settings/off_twitter_activity": ["use_cookie_personalization", "allow_logged_out_device_personalization"],
    "/settings/location_information": ["allow_location_history_personalization"],
}


def test_home_more_menu_leads_to_settings_account(fake_x, logged_in):
    page = logged_in("alice")
    page.goto(fake_x.base_url + "/home")
    nav = page.locator('nav[aria-label="Primary"]')
    for tab in ("Home", "Explore", "Notifications", "DirectMessage", "Profile"):
        expect(nav.locator(f'a[data-testid="AppTabBar_{tab}_Link"]')).to_be_visible()
    expect(page.locator('[data-testid="SideNav_AccountSwitcher_Button"]')).to_contain_text("@alice")
    expect(page.locator('div[data-testid="primaryColumn"]')).to_be_visible()
    page.locator('button[data-testid="AppTabBar_More_Menu"]').click()
    link = page.locator('div[role="menu"] a[data-testid="settings"][href="/settings"]')
    expect(link).to_have_text("Settings and privacy")
    link.click()
    page.wait_for_url("**/settings/account")
    nav = page.locator('section[aria-label="Section navigation"]')
    expect(nav.locator('a[role="tab"][aria-selected="true"]')).to_have_attribute("href", "/settings/account")
    expect(page.locator('section[aria-label="Section details"] h2')).to_have_text("Your account")
    nav.locator('a[role="tab"][href="/settings/privacy_and_safety"]').click()
    expect(page.locator('[data-testid="privacyAndSafetyScreen"]')).to_be_visible()


def test_privacy_and_safety_has_three_groups_and_the_data_links(fake_x, logged_in):
    page = logged_in("alice")
    page.goto(fake_x.base_url + "/settings/privacy_and_safety")
    screen = page.locator('div[data-testid="privacyAndSafetyScreen"]')
    expect(screen.locator("h2")).to_have_count(3)
    expect(screen.locator("h2").nth(1)).to_have_text("Data sharing and personalization")
    group = screen.locator("div.group").nth(1)
    hrefs = [a.get_attribute("href") for a in group.locator('a[role="link"]').all()]
    assert hrefs == [
        "/settings/ads_preferences",
        "/settings/off_twitter_activity",
        "/settings/data_sharing_with_business_partners",
        "/settings/location_information",
        "/settings/grok_settings",
    ]
    expect(page.locator('section[aria-label="Section navigation"] a[aria-selected="true"]')).to_have_attribute(
        "href", "/settings/privacy_and_safety")


@pytest.mark.parametrize("path", list(SETTING_PAGES))
def test_setting_page_toggle_saves_and_reload_shows_server_truth(fake_x, logged_in, path):
    page = logged_in("alice")
    fields = SETTING_PAGES[path]
    open_setting(page, fake_x.base_url, path)
    boxes = checkboxes(page)
    expect(boxes).to_have_count(len(fields))
    for box in boxes.all():
        expect(box).to_be_checked()
    assert boxes.first.get_attribute("data-testid") is None
    described_by = boxes.first.get_attribute("aria-describedby")  # X's 2026 wiring, no <label>
    assert described_by.startswith("CHECKBOX_") and page.locator(f"#{described_by}").inner_text().strip()
    graphql = path.endswith("grok_settings")  # the Grok preferences are GraphQL mutations (2026)
    marker = "/XaiDataSharingSettingsMutation" if graphql else "/1.1/account/settings.json"
    with page.expect_response(lambda r: r.request.method == "POST" and marker in r.url) as resp:
        boxes.first.click()
    request = resp.value.request
    if graphql:
        assert request.post_data_json["variables"] == {"allowXaiDataSharing": False}
    else:
        assert request.post_data == f"{fields[0]}=false"
    assert request.headers["x-csrf-token"] == next(c["value"] for c in page.context.cookies() if c["name"] == "ct0")
    truth = fake_x.admin.get_account("alice")["settings"]
    assert truth[fields[0]] is False
    assert all(truth[f] for f in fields[1:])  # only the box clicked changed
    page.reload()
    expect(checkboxes(page).first).not_to_be_checked()
    fake_x.admin.set_settings("alice", {fields[0]: True})  # drift made on the server shows after reload
    page.reload()
    expect(checkboxes(page).first).to_be_checked()


def test_already_off_account_shows_unchecked_boxes(fake_x, logged_in):
    page = logged_in("bob")
    open_setting(page, fake_x.base_url, "/settings/grok_settings")
    for box in checkboxes(page).all():
        expect(box).not_to_be_checked()


def test_single_inferred_box(fake_x, logged_in):
    page = logged_in("singlebox")
    open_setting(page, fake_x.base_url, "/settings/off_twitter_activity")
    expect(checkboxes(page)).to_have_count(1)
    checkboxes(page).click()
    assert fake_x.admin.get_account("singlebox")["settings"]["use_cookie_personalization"] is False


def test_narrow_layout_is_one_column(fake_x, logged_in):
    page = logged_in("alice", width=800, height=900)
    page.goto(fake_x.base_url + "/settings")
    page.wait_for_url("**/settings/account")
    expect(page.locator('section[aria-label="Section navigation"]')).to_be_visible()
    expect(page.locator('section[aria-label="Section details"]')).to_be_hidden()
    open_setting(page, fake_x.base_url, PARTNERS)
    expect(page.locator('section[aria-label="Section navigation"]')).to_be_hidden()
    page.set_viewport_size({"width": 1100, "height": 900})
    expect(page.locator('section[aria-label="Section navigation"]')).to_be_visible()


def test_german_settings_labels_and_section_names(fake_x, logged_in):
    page = logged_in("banner", locale="en-US")  # the account's language wins over the browser's
    page.context.add_cookies([{"name": "welcome_seen", "value": "1", "url": fake_x.base_url},
                              {"name": "d_prefs", "value": "x", "url": fake_x.base_url}])
    open_setting(page, fake_x.base_url, PARTNERS)
    expect(page.locator('section[aria-label="Bereichsdetails"] h2')).to_have_text("Datenfreigabe an Geschäftspartner")
    expect(page.locator('section[aria-label="Bereichsnavigation"]')).to_be_visible()
    expect(details(page).locator("[id^=CHECKBOX_]")).to_contain_text("Weitergabe zusätzlicher Informationen")


def test_csrf_header_must_match_ct0(fake_x, logged_in):
    page = logged_in("alice")
    api = page.context.request
    url = fake_x.base_url + "/1.1/account/settings.json"
    bare = api.post(url, form={PARTNER_FIELD: "false"})
    assert bare.status == 403 and bare.json()["errors"][0]["code"] == 353
    wrong = api.post(url, form={PARTNER_FIELD: "false"}, headers={"x-csrf-token": "0" * 160})
    assert wrong.status == 403
    assert fake_x.admin.get_account("alice")["settings"][PARTNER_FIELD] is True
    ct0 = next(c["value"] for c in page.context.cookies() if c["name"] == "ct0")
    ok = api.post(url, form={PARTNER_FIELD: "false"}, headers={"x-csrf-token": ct0})
    assert ok.status == 200 and ok.json()[PARTNER_FIELD] is False


def test_admin_expiry_sends_pages_to_login_and_api_401(fake_x, logged_in):
    page = logged_in("alice")
    open_setting(page, fake_x.base_url, PARTNERS)
    fake_x.admin.expire_sessions("alice")
    assert fake_x.admin.get_account("alice")["live_sessions"] == 0
    api = page.context.request.get(fake_x.base_url + "/1.1/account/settings.json")
    assert api.status == 401 and api.json()["errors"][0]["code"] == 89
    page.reload()
    page.wait_for_url(re.compile(r"/i/flow/login\?redirect_after_login=%2Fsettings%2Fdata_sharing"))
    assert "auth_token" not in {c["name"] for c in page.context.cookies()}


def test_session_ttl_expires(fake_x, logged_in):
    fake_x.admin.add_account({"handle": "brief", "password": "pw-brief-Q1w2", "session_ttl_s": 4})
    page = logged_in("brief", password="pw-brief-Q1w2")
    assert fake_x.admin.get_account("brief")["live_sessions"] == 1  # a slow machine has 4 s to get here
    wait_until(lambda: fake_x.admin.get_account("brief")["live_sessions"] == 0, "the session to expire")
    page.goto(fake_x.base_url + "/home")
    page.wait_for_url("**/i/flow/login?redirect_after_login=%2Fhome")


def test_unknown_pages_show_the_404_pane_with_200(fake_x, logged_in):
    page = logged_in("alice")
    resp = page.goto(fake_x.base_url + "/settings/no_such_setting")
    assert resp.status == 200
    expect(details(page)).to_contain_text("Hmm...this page doesn't exist.")
    resp = page.goto(fake_x.base_url + "/i/no/such/page")
    assert resp.status == 200
    expect(page.locator('[data-testid="primaryColumn"]')).to_contain_text("Hmm...this page doesn't exist.")


def test_grok_preferences_are_graphql_in_x_shapes(fake_x, logged_in):
    """GrokSettingsScreenQuery reads the three preferences; each mutation writes one; an old build's
    query id is 404; a write without the ct0 header is refused like every X write; a bad variable is a
    GraphQL error answered with 200. settings.json neither shows nor takes them."""
    page = logged_in("alice")
    base, ids = fake_x.base_url + "/i/api/graphql/", fake_x.admin.graphql_query_ids()
    ct0 = next(c["value"] for c in page.context.cookies() if c["name"] == "ct0")
    api = page.context.request
    read = api.get(f"{base}{ids['GrokSettingsScreenQuery']}/GrokSettingsScreenQuery?variables=%7B%7D")
    prefs = read.json()["data"]["viewer"]["user_preferences"]
    assert {k: v for k, v in prefs.items() if k != "__typename"} == {
        "allow_xai_data_sharing": True, "allow_xai_personalization": True, "allow_grok_memory": True}
    op = "XaiDataSharingSettingsMutation"
    wrote = api.post(f"{base}{ids[op]}/{op}", data={"variables": {"allowXaiDataSharing": False}, "queryId": ids[op]},
                     headers={"x-csrf-token": ct0})
    assert wrote.status == 200 and wrote.json()["data"]["user_preferences_put"]["allow_xai_data_sharing"] is False
    assert fake_x.admin.get_account("alice")["settings"]["allow_xai_data_sharing"] is False
    assert api.get(f"{base}not-this-build/GrokSettingsScreenQuery").status == 404
    no_csrf = api.post(f"{base}{ids[op]}/{op}", data={"variables": {"allowXaiDataSharing": True}})
    assert no_csrf.status == 403 and no_csrf.json()["errors"][0]["code"] == 353
    bad = api.post(f"{base}{ids[op]}/{op}", data={"variables": {"allowXaiDataSharing": "no"}}, headers={"x-csrf-token": ct0})
    assert bad.status == 200 and bad.json()["errors"][0]["code"] == 214 and "data" not in bad.json()
    assert fake_x.admin.get_account("alice")["settings"]["allow_xai_data_sharing"] is False
    rest = api.get(fake_x.base_url + "/1.1/account/settings.json").json()
    assert not [k for k in rest if "xai" in k or "grok" in k]
