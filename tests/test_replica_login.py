"""The replica's login: both UIs, every challenge and refusal, in several languages.

Each test drives a real Chromium by hand-written steps and then checks the server's truth (login
history, sessions) through the admin API, because what the page shows is not proof of what happened.
"""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from recordings.server import ReplicaServer
from replica_fixtures import (
    BACKUP_CODES,
    PASSWORDS,
    legacy_identifier,
    legacy_login,
    legacy_password,
    toast,
    totp_now,
)

OCF_INPUT = '[data-testid="ocfEnterTextTextInput"]'
OCF_NEXT = '[data-testid="ocfEnterTextNextButton"]'


def last_login(fake_x: ReplicaServer, handle: str) -> dict:
    return fake_x.admin.get_account(handle)["logins"][-1]


# ------------------------------------------------------------------ legacy flow
def test_legacy_login_sets_x_cookies_and_returns_to_the_page_asked_for(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/settings/privacy_and_safety")
    assert "/i/flow/login?redirect_after_login=" in page.url
    expect(page.locator('div[role="dialog"] h1')).to_have_text("Sign in to X")
    page.locator('input[autocomplete="username"][name="text"]').fill("@Alice")
    page.get_by_role("button", name="Next", exact=True).click()
    expect(page.locator('div[role="dialog"] h1')).to_have_text("Enter your password")
    legacy_password(page, PASSWORDS["alice"])
    page.wait_for_url("**/settings/privacy_and_safety")
    expect(page.locator('[data-testid="privacyAndSafetyScreen"]')).to_be_visible()

    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["auth_token"]["httpOnly"] and re.fullmatch(r"[0-9a-f]{40}", cookies["auth_token"]["value"])
    assert not cookies["ct0"]["httpOnly"] and re.fullmatch(r"[0-9a-f]{160}", cookies["ct0"]["value"])
    account = fake_x.admin.get_account("alice")
    assert cookies["twid"]["value"].startswith("u%3D")
    assert {"guest_id", "kdt", "lang"} <= set(cookies)
    assert account["live_sessions"] == 1
    assert account["logins"] == [
        {**account["logins"][0], "flow": "legacy", "identifier_ok": True, "password_tried": True, "outcome": "success"}
    ]


def test_logged_in_visitor_of_login_page_goes_home(fake_x, replica_page: Page):
    legacy_login(replica_page, fake_x.base_url, "alice")
    replica_page.goto(fake_x.base_url + "/i/flow/login")
    assert replica_page.url.endswith("/home")
    replica_page.goto(fake_x.base_url + "/")
    assert replica_page.url.endswith("/home")


def test_wrong_password_toast_then_retry_both_recorded(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "alice")
    legacy_password(page, "not-the-password")
    expect(toast(page)).to_have_text("Wrong password!")
    expect(page.locator('input[name="password"]')).to_be_visible()
    legacy_password(page, PASSWORDS["alice"])
    page.wait_for_url("**/home")
    outcomes = [(r["password_tried"], r["outcome"]) for r in fake_x.admin.get_account("alice")["logins"]]
    assert outcomes == [(True, "wrong_password"), (True, "success")]


def test_unknown_account_toast_keeps_identifier_screen(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "nobody-here")
    expect(toast(page)).to_have_text("Sorry, we could not find your account.")
    expect(page.locator('input[autocomplete="username"]')).to_be_visible()


def test_german_totp_login_with_wrong_then_right_code(fake_x, replica_context):
    page = replica_context(locale="de-DE").new_page()
    page.goto(fake_x.base_url + "/i/flow/login")
    expect(page.locator('div[role="dialog"] h1')).to_have_text("Bei X anmelden")  # Accept-Language
    expect(page.get_by_role("button", name="Weiter", exact=True)).to_be_visible()
    legacy_identifier(page, "carla@example.com")  # an email address is an identifier too
    legacy_password(page, PASSWORDS["carla"])
    code_box = page.locator(f'{OCF_INPUT}[inputmode="numeric"][autocomplete="one-time-code"]')
    expect(page.locator('[role="dialog"] h1')).to_have_text("Gib deinen Bestätigungscode ein")
    code_box.fill("000000")
    page.locator(OCF_NEXT).click()
    expect(toast(page)).to_contain_text("Dein Code war falsch")
    assert last_login(fake_x, "carla")["outcome"] == "wrong_code"
    code_box.fill(totp_now("carla"))
    page.locator(OCF_NEXT).click()
    page.wait_for_url("**/home")
    expect(page.locator('[data-testid="AppTabBar_Home_Link"]')).to_have_text("Startseite")
    assert last_login(fake_x, "carla")["outcome"] == "success"


def test_backup_code_via_other_method(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "carla")
    legacy_password(page, PASSWORDS["carla"])
    page.locator('a[data-testid="choose-other-method"]').click()
    page.locator('[role="radio"][data-method="backup_code"]').click()
    page.locator(OCF_NEXT).click()
    box = page.locator(OCF_INPUT)
    expect(box).not_to_have_attribute("inputmode", "numeric")
    box.fill(BACKUP_CODES["carla"])
    page.locator(OCF_NEXT).click()
    page.wait_for_url("**/home")


@pytest.mark.parametrize(
    ("cookie", "locale", "next_label"),
    [("es", "en-US", "Siguiente"), (None, "ja-JP", "次へ"), (None, "fr-FR", "Next")],
)
def test_guest_language_cookie_then_accept_language_then_english(fake_x, replica_context, cookie, locale, next_label):
    ctx = replica_context(locale=locale)
    if cookie:
        ctx.add_cookies([{"name": "lang", "value": cookie, "url": fake_x.base_url}])
    page = ctx.new_page()
    page.goto(fake_x.base_url + "/i/flow/login")
    expect(page.get_by_role("button", name=next_label, exact=True)).to_be_visible()


def test_unusual_activity_asks_for_phone_or_username(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "unusual@example.com")
    expect(page.locator('[role="dialog"] h1')).to_have_text("Enter your phone number or username")
    page.locator(OCF_INPUT).fill("someone-else")
    page.locator(OCF_NEXT).click()
    expect(toast(page)).to_have_text("Incorrect. Please try again.")
    assert last_login(fake_x, "unusual")["identifier_ok"] is False
    page.locator(OCF_INPUT).fill("+1 555 010 0123")
    page.locator(OCF_NEXT).click()
    legacy_password(page, PASSWORDS["unusual"])
    page.wait_for_url("**/home")
    assert last_login(fake_x, "unusual")["identifier_ok"] is True


def test_email_code_read_from_the_mailbox(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "emailcode")
    legacy_password(page, PASSWORDS["emailcode"])
    expect(page.locator('[role="dialog"] h1')).to_have_text("Check your email")
    expect(page.locator("text=e********@example.com")).to_be_visible()
    code = fake_x.admin.get_account("emailcode")["email_code"]
    assert re.fullmatch(r"\d{6}", code)
    page.locator(f'{OCF_INPUT}[name="email_code"]').fill(code)
    page.locator(OCF_NEXT).click()
    page.wait_for_url("**/home")
    assert fake_x.admin.get_account("emailcode")["email_code"] is None


def test_denied_login_ends_the_flow_until_a_human_confirms(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "denied")
    legacy_password(page, PASSWORDS["denied"])
    expect(page.locator('[role="dialog"] h1')).to_have_text("Suspicious login prevented")
    assert last_login(fake_x, "denied")["outcome"] == "denied"
    page.locator('[data-testid="OCF_CallToAction_Button"]').click()
    page.wait_for_url(re.compile(r"/$"))
    assert fake_x.admin.get_account("denied")["live_sessions"] == 0

    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "denied")
    legacy_password(page, PASSWORDS["denied"])
    expect(page.locator('[data-testid="OCF_CallToAction_Button"]')).to_be_visible()
    fake_x.admin.human("denied")  # confirmed "it was me" from the email; the waiting page moves on
    page.wait_for_url("**/home")


def test_captcha_waits_for_a_human(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "captcha")
    legacy_password(page, PASSWORDS["captcha"])
    frame = page.locator("iframe#arkose_iframe")
    expect(frame).to_be_visible()
    expect(page.frame_locator("iframe#arkose_iframe").get_by_role("button", name="Start puzzle")).to_be_visible()
    time.sleep(1.3)  # polls come and go; no script passes the puzzle
    assert "/i/flow/login" in page.url and last_login(fake_x, "captcha")["outcome"] == "captcha"
    fake_x.admin.human("captcha")
    page.wait_for_url("**/home")
    assert last_login(fake_x, "captcha")["outcome"] == "success"


def test_limited_login_toast(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/flow/login")
    legacy_identifier(page, "limited")
    legacy_password(page, PASSWORDS["limited"])
    expect(toast(page)).to_have_text("We've temporarily limited your login. Please try again later.")
    assert last_login(fake_x, "limited")["outcome"] == "limited"
    assert fake_x.admin.get_account("limited")["live_sessions"] == 0


# ------------------------------------------------------------------ new flow
def new_flow_identify(page: Page, identifier: str) -> None:
    form = page.locator("form", has=page.locator('input[name="username_or_email"]:visible'))
    button = form.locator("button")
    expect(button).to_be_disabled()
    assert button.get_attribute("type") == "button"
    form.locator('input[name="username_or_email"]').fill(identifier)
    expect(button).to_have_attribute("type", "submit")
    button.click()


def new_flow_password(page: Page, password: str) -> None:
    field = page.locator('input[name="password"]:visible')
    expect(field).to_have_css("opacity", "1")
    field.fill(password)
    field.press("Enter")


def test_account_mode_bounces_new_cohort_to_new_ui_spanish(fake_x, replica_context):
    page = replica_context(locale="es-ES").new_page()
    page.goto(fake_x.base_url + "/i/flow/login?redirect_after_login=%2Fsettings%2Fprivacy_and_safety")
    legacy_identifier(page, "diego")
    page.wait_for_url("**/i/jf/onboarding/web?mode=login*")
    assert fake_x.admin.get_account("diego")["logins"] == []  # the bounce is not a login attempt
    # The form is rendered twice; one copy is hidden, and the password field waits invisible.
    expect(page.locator('input[name="username_or_email"]')).to_have_count(2)
    expect(page.locator('input[autocomplete="username webauthn"]:visible')).to_have_count(1)
    expect(page.locator('input[name="password"]:visible')).to_have_css("opacity", "0")
    expect(page.locator("form:visible button")).to_have_text("Continuar")
    new_flow_identify(page, "diego")
    new_flow_password(page, PASSWORDS["diego"])
    page.wait_for_url("**/settings/privacy_and_safety")
    expect(page.locator('[data-testid="privacyAndSafetyScreen"] h2').nth(1)).to_have_text("Compartir datos y personalización")
    assert last_login(fake_x, "diego")["flow"] == "new"


def test_new_ui_japanese_six_box_totp(fake_x, replica_context):
    page = replica_context(locale="ja-JP").new_page()
    page.goto(fake_x.base_url + "/i/jf/onboarding/web?mode=login")
    new_flow_identify(page, "emi")
    expect(page.locator("form:visible button")).to_have_text("ログイン")
    new_flow_password(page, PASSWORDS["emi"])
    page.wait_for_url("**/i/jf/onboarding/web/two_factor*")
    boxes = page.locator('input[autocomplete="one-time-code"][maxlength="1"]')
    expect(boxes).to_have_count(6)
    for box, digit in zip(boxes.all(), totp_now("emi")):
        box.type(digit)
    page.wait_for_url("**/home")
    expect(page.locator('[data-testid="AppTabBar_Home_Link"]')).to_have_text("ホーム")
    assert last_login(fake_x, "emi") | {"at": 0} == {
        "at": 0, "flow": "new", "identifier_ok": True, "password_tried": True, "outcome": "success",
        "automation": []}


def test_new_ui_wrong_password_and_limited_reuse_toasts(fake_x, replica_page: Page):
    page = replica_page
    page.goto(fake_x.base_url + "/i/jf/onboarding/web?mode=login")
    new_flow_identify(page, "limited")
    new_flow_password(page, "wrong")
    expect(toast(page)).to_have_text("Wrong password!")
    new_flow_password(page, PASSWORDS["limited"])
    expect(toast(page).last).to_have_text("We've temporarily limited your login. Please try again later.")
    assert [r["outcome"] for r in fake_x.admin.get_account("limited")["logins"]] == ["wrong_password", "limited"]


@pytest.fixture(scope="module")
def new_flow_replica():
    server = ReplicaServer(login_flow="new").start()
    yield server
    server.stop()


def test_new_mode_redirects_and_asks_email_code_in_six_boxes(new_flow_replica, replica_page: Page):
    page = replica_page
    page.goto(new_flow_replica.base_url + "/settings/grok_settings")
    page.wait_for_url(re.compile(r"/i/jf/onboarding/web\?mode=login&redirect_after_login=.*grok_settings"))
    new_flow_identify(page, "emailcode")
    new_flow_password(page, PASSWORDS["emailcode"])
    page.wait_for_url("**/i/jf/onboarding/web/email_code*")
    code = new_flow_replica.admin.get_account("emailcode")["email_code"]
    page.locator('input[autocomplete="one-time-code"]').first.type(code[0])
    for box, digit in zip(page.locator('input[autocomplete="one-time-code"]').all()[1:], code[1:]):
        box.type(digit)
    page.wait_for_url("**/settings/grok_settings")


def test_new_ui_unusual_activity_reuses_legacy_markup(new_flow_replica, replica_page: Page):
    page = replica_page
    page.goto(new_flow_replica.base_url + "/i/flow/login")
    new_flow_identify(page, "unusual")
    page.locator(OCF_INPUT).fill("unusual")
    page.locator(OCF_NEXT).click()
    new_flow_password(page, PASSWORDS["unusual"])
    page.wait_for_url("**/home")
