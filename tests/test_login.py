"""Logging in (optout/x/login.py) in a real Chromium against the replica, with credentials in the real
keyring. The replica's admin API is the judge: its login history says how often a password was tried,
its request log says whether a login happened at all."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid

import pyotp
import pytest
import pytest_asyncio
from pydantic import SecretStr

from optout.browser import open_browser
from optout.config import load_settings
from optout.credentials import Credentials, CredentialStore
from optout.errors import LoginFailed, NeedsHuman, UiChanged, UnknownAccount
from optout.prompts import Prompter
from optout.x.login import ensure_session
from optout.x.responses import XResponses

pytestmark = pytest.mark.asyncio(loop_scope="module")
FLOWS = ("legacy", "new")
ONBOARDING = re.compile(r"/onboarding/")  # both flows' login APIs: /1.1/onboarding/task.json, /i/jf/onboarding/api


@pytest.fixture(scope="module")
def settings(replica, tmp_path_factory):
    home = tmp_path_factory.mktemp("login")
    return load_settings(
        base_url=replica.base_url, timeout_ms=8_000, typing_delay_ms=0, pause_min_ms=0, pause_max_ms=0,
        keyring_service=f"optout-test-{uuid.uuid4().hex[:8]}", data_dir=home / "data", state_dir=home / "state",
        config_dir=home / "config",
    )


@pytest.fixture(scope="module")
def store(settings):
    return CredentialStore(settings)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser(settings):
    async with open_browser(settings) as session:
        yield session


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser):
    context = await browser.new_context()
    page = await context.new_page()
    yield page
    await context.close()


def account(replica, store, *, stored: dict | None = None, **scenario) -> tuple[str, str]:
    """A new replica account with its password (and `stored` extras) in the keyring."""
    handle = "lg_" + uuid.uuid4().hex[:8]
    password = "pw-" + uuid.uuid4().hex[:12]
    replica.admin.add_account({"handle": handle, "password": password, **scenario})
    extras = dict(stored or {})
    if "totp_secret" in extras:
        extras["totp_secret"] = SecretStr(extras["totp_secret"])
    store.save(Credentials(handle=handle, password=SecretStr(password), **extras))
    return handle, password


def logins(replica, handle):
    return replica.admin.get_account(handle)["logins"]


def login_requests(replica, since: int) -> list[dict]:
    return [r for r in replica.admin.requests(since=since)
            if "onboarding" in r["path"] or r["path"].startswith("/i/flow/login")]


def last_seq(replica) -> int:
    entries = replica.admin.requests()
    return entries[-1]["seq"] if entries else 0


class MailboxReader:
    """Stands in for the person at the terminal: reads the code X emailed (the replica's mailbox)."""

    def __init__(self, replica, handle):
        self.replica, self.handle, self.questions = replica, handle, []

    interactive = True

    def ask(self, question, secret=True):
        self.questions.append(question)
        return self.replica.admin.get_account(self.handle)["email_code"]


# ---- logging in, both flows, several languages ----


@pytest.mark.parametrize("flow,language", [("legacy", "en"), ("new", "en"), ("legacy", "de"), ("new", "es"), ("new", "ja")])
async def test_fresh_login_then_reuse(flow, language, replica, store, settings, page, browser):
    handle, _ = account(replica, store, flow=flow, language=language)
    assert await ensure_session(page.context, page, "@" + handle.upper(), store, settings, responses=XResponses(page)) is True
    history = logins(replica, handle)
    assert [(h["flow"], h["outcome"], h["password_tried"]) for h in history] == [(flow, "success", True)]
    assert store.load_session(handle) is not None

    # A new browser context (a later run) reuses the stored session: no login request at all.
    context = await browser.new_context()
    later = await context.new_page()
    since = last_seq(replica)
    assert await ensure_session(context, later, handle, store, settings, responses=XResponses(later)) is False
    await context.close()
    assert login_requests(replica, since) == []
    assert len(logins(replica, handle)) == 1
    assert replica.admin.get_account(handle)["live_sessions"] >= 1


async def test_expired_session_leads_to_exactly_one_login(replica, store, settings, page, browser):
    handle, _ = account(replica, store)
    assert await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page)) is True
    replica.admin.expire_sessions(handle)
    context = await browser.new_context()
    later = await context.new_page()
    assert await ensure_session(context, later, handle, store, settings, responses=XResponses(later)) is True
    await context.close()
    assert [h["outcome"] for h in logins(replica, handle)] == ["success", "success"]


@pytest.mark.parametrize("flow,language", [("legacy", "de"), ("new", "ja")])
async def test_totp_from_the_keyring(flow, language, replica, store, settings, page):
    secret = pyotp.random_base32()
    handle, _ = account(replica, store, flow=flow, language=language, totp_secret=secret,
                        stored={"totp_secret": secret})
    assert await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page)) is True
    assert logins(replica, handle)[-1]["outcome"] == "success"


async def test_totp_prompted_when_none_is_stored(replica, store, settings, page):
    secret = pyotp.random_base32()
    handle, _ = account(replica, store, flow="new", totp_secret=secret)

    class Person:
        interactive = True

        def ask(self, question, secret_=True):
            return pyotp.TOTP(secret).now()

    assert await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page), prompter=Person()) is True


async def test_totp_needed_but_nobody_there(replica, store, settings, page, tmp_path):
    handle, _ = account(replica, store, totp_secret=pyotp.random_base32())
    with pytest.raises(NeedsHuman):
        await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page), prompter=Prompter(interactive=False),
                             shots_dir=tmp_path)
    assert list(tmp_path.glob("login-needs_human-*.png"))


@pytest.mark.parametrize("flow", FLOWS)
async def test_unusual_activity_answered_with_the_stored_phone(flow, replica, store, settings, page):
    handle, _ = account(replica, store, flow=flow, unusual_activity=True, phone="+1 555 010 0999",
                        stored={"phone": "+15550100999"})
    assert await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page)) is True
    assert logins(replica, handle)[-1]["identifier_ok"] is True


async def test_unusual_activity_without_answer_needs_a_human(replica, store, settings, page, tmp_path):
    handle, _ = account(replica, store, unusual_activity=True)
    with pytest.raises(NeedsHuman) as caught:
        await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page), shots_dir=tmp_path)
    assert caught.value.outcome == "needs_human"
    assert logins(replica, handle)[-1]["password_tried"] is False


@pytest.mark.parametrize("flow", FLOWS)
async def test_email_code_typed_by_the_person(flow, replica, store, settings, page):
    handle, _ = account(replica, store, flow=flow, email_code=True)
    person = MailboxReader(replica, handle)
    assert await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page), prompter=person) is True
    assert len(person.questions) == 1
    assert logins(replica, handle)[-1]["outcome"] == "success"


@pytest.mark.parametrize("flow", FLOWS)
async def test_a_poll_that_outlives_the_email_step_is_not_its_answer(flow, replica, store, settings, page):
    """X's page polls the email step every second while a person reads their mail. A poll sent after the
    code went off reaches X once the login is over, and X answers it "Flow token expired"; the page
    ignores that. Here the code's answer is held back so that the poll's error arrives first: the login
    must still succeed (under load this race made `optout login` fail, seen in CI)."""
    handle, _ = account(replica, store, flow=flow, email_code=True)
    person = MailboxReader(replica, handle)
    answers = []  # what the page heard, in order

    async def hold_back_the_codes_answer(route):
        sent = route.request.post_data or ""
        if '"poll"' in sent or '"enter_text"' not in sent:
            return await route.continue_()
        answer = await route.fetch(headers=await route.request.all_headers())  # with its cookies
        await asyncio.sleep(2.5)  # the page polls meanwhile: its poll's answer comes first
        await route.fulfill(response=answer)

    def note_answer(response):
        sent = response.request.post_data or ""
        if '"poll"' in sent and response.status >= 400:
            answers.append("poll refused")
        elif '"enter_text"' in sent:
            answers.append("code answered")

    page.on("response", note_answer)
    await page.route(ONBOARDING, hold_back_the_codes_answer)
    try:
        assert await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page),
                                    prompter=person) is True
    finally:
        await page.unroute(ONBOARDING)
        page.remove_listener("response", note_answer)
    assert "poll refused" in answers[:answers.index("code answered")]  # the race did happen
    assert logins(replica, handle)[-1]["outcome"] == "success" and store.load_session(handle) is not None


@pytest.mark.parametrize("flow", FLOWS)
async def test_email_code_unattended_needs_a_human(flow, replica, store, settings, page, tmp_path):
    handle, _ = account(replica, store, flow=flow, email_code=True)
    with pytest.raises(NeedsHuman) as caught:
        await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page), prompter=Prompter(interactive=False),
                             shots_dir=tmp_path)
    assert "email" in caught.value.message
    assert logins(replica, handle)[-1]["outcome"] == "email_code"
    assert store.load_session(handle) is None


# ---- refusals: stop at once, try the password exactly once ----


@pytest.mark.parametrize("flow", FLOWS)
async def test_wrong_password_is_tried_exactly_once(flow, replica, store, settings, page, tmp_path):
    handle, _ = account(replica, store, flow=flow)
    store.save(Credentials(handle=handle, password=SecretStr("not-the-password-" + uuid.uuid4().hex[:6])))
    responses = XResponses(page)
    with pytest.raises(LoginFailed) as caught:
        await ensure_session(page.context, page, handle, store, settings, responses=responses, shots_dir=tmp_path)
    history = logins(replica, handle)
    assert [(h["password_tried"], h["outcome"]) for h in history] == [(True, "wrong_password")]
    assert [e.code for e in responses.errors if e.refuses_answer] == [399]  # X's answer to the password it sent
    assert caught.value.outcome == "login_failed"
    assert caught.value.screenshot and list(tmp_path.glob("login-login_failed-*.png"))


@pytest.mark.parametrize("flow", FLOWS)
async def test_unknown_account_fails_at_once(flow, replica, store, settings, page, tmp_path):
    handle = "nobody_" + uuid.uuid4().hex[:6]
    store.save(Credentials(handle=handle, password=SecretStr("pw-nobody-123456")))
    if flow == "new":  # X sends everyone to the 2026 flow: its server redirects the old login URL
        await page.route("**/i/flow/login*", lambda route: route.fulfill(
            status=302, headers={"Location": replica.base_url + "/i/jf/onboarding/web?mode=login"}))
    seq = last_seq(replica)
    responses = XResponses(page)
    with pytest.raises(LoginFailed) as caught:
        await ensure_session(page.context, page, handle, store, settings, responses=responses, shots_dir=tmp_path)
    await page.unroute("**/i/flow/login*")
    assert handle in caught.value.message
    assert [e.code for e in responses.errors if e.refuses_answer] == [399]  # X's answer to the name it sent
    refused = [r for r in replica.admin.requests(since=seq) if r["method"] == "POST" and r["status"] >= 400]
    assert len(refused) == 1 and ("jf" in refused[0]["path"]) == (flow == "new")


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("refusal,outcome", [("deny_login", "denied"), ("captcha", "captcha"), ("limited", "limited")])
async def test_refusals_need_a_human(refusal, outcome, flow, replica, store, settings, page, tmp_path):
    handle, _ = account(replica, store, flow=flow, **{refusal: True})
    with pytest.raises(NeedsHuman) as caught:
        await ensure_session(page.context, page, handle, store, settings, responses=XResponses(page), shots_dir=tmp_path)
    history = logins(replica, handle)
    assert [(h["password_tried"], h["outcome"]) for h in history] == [(True, outcome)]
    assert caught.value.exit_code == 3
    assert caught.value.url and list(tmp_path.glob("login-needs_human-*.png"))
    assert store.load_session(handle) is None


async def test_no_password_stored_is_bad_input(replica, store, settings, page):
    with pytest.raises(UnknownAccount):
        await ensure_session(page.context, page, "never_added_" + uuid.uuid4().hex[:4], store, settings, responses=XResponses(page))


# ---- X changed its pages ----


async def test_unrecognised_screen_is_ui_changed_with_a_screenshot(replica, store, settings, page, tmp_path):
    handle, _ = account(replica, store)

    async def changed_login(route):
        await route.fulfill(content_type="text/html",
                            body="<html><body><h1>Sign in</h1><input name='mystery_field'></body></html>")

    await page.route("**/i/flow/login*", changed_login)
    with pytest.raises(UiChanged) as caught:
        await ensure_session(page.context, page, handle, store, settings.model_copy(update={"timeout_ms": 2_000}), responses=XResponses(page),
                             shots_dir=tmp_path)
    await page.unroute("**/i/flow/login*")
    assert "/i/flow/login" in caught.value.url
    assert caught.value.outcome == "ui_changed"
    assert list(tmp_path.glob("login-ui_changed-*.png"))


async def test_stuck_password_screen_is_ui_changed_and_the_password_is_masked(replica, store, settings, page, tmp_path):
    """X never answers the password step: UiChanged after the timeout, and the screenshot, taken while
    the password is typed in the field, shows the field blacked out (Playwright's mask colour)."""
    handle, _ = account(replica, store)

    async def hang_password(route):
        if "enter_password" in (route.request.post_data or ""):
            return  # never answered: the screen cannot move on
        await route.continue_()

    await page.route("**/1.1/onboarding/task.json*", hang_password)
    with pytest.raises(UiChanged) as caught:
        await ensure_session(page.context, page, handle, store, settings.model_copy(update={"timeout_ms": 2_000}), responses=XResponses(page),
                             shots_dir=tmp_path)
    shot = next(tmp_path.glob("login-ui_changed-*.png"))
    box = await page.locator("input[name=password]").bounding_box()
    assert await _pixel(page, shot, box["x"] + box["width"] / 2, box["y"] + box["height"] / 2) == [255, 0, 255]
    assert "password" in caught.value.message


async def _pixel(page, png, x, y) -> list[int]:
    """One pixel of a PNG, decoded by the browser itself (no image library needed)."""
    data = base64.b64encode(png.read_bytes()).decode()
    probe = await page.context.new_page()
    await probe.set_content(f"<img id=i src='data:image/png;base64,{data}'>")
    rgb = await probe.evaluate("""([x, y]) => new Promise((ok) => { const img = document.getElementById('i');
        const draw = () => { const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
          const g = c.getContext('2d'); g.drawImage(img, 0, 0); ok([...g.getImageData(x, y, 1, 1).data].slice(0, 3)); };
        img.complete ? draw() : img.onload = draw; })""", [int(x), int(y)])
    await probe.close()
    return rgb
