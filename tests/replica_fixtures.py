"""Fixtures and hand-written browser steps for the replica's own tests (tests/test_replica*.py).

Named ``replica_*`` / ``fake_x`` so they never clash with the shared ``replica`` fixtures in tests/conftest.py. The browser is the
session's shared headless Chromium, driven with Playwright's sync API; each test gets a fresh context
(cookies) and a replica reset to the accounts file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from optout.browser import honest_user_agent
from recordings.scenarios import load_scenarios
from recordings.server import ReplicaServer

# Credentials come from the bundled fixture file, so tests and fixtures cannot drift apart.
_SCENARIOS = {s.key: s for s in load_scenarios()}
PASSWORDS = {key: s.password for key, s in _SCENARIOS.items()}
TOTP = {key: s.totp_secret for key, s in _SCENARIOS.items() if s.totp_secret}
BACKUP_CODES = {key: s.backup_code for key, s in _SCENARIOS.items() if s.backup_code}
PARTNERS = "/settings/data_sharing_with_business_partners"
PARTNER_FIELD = "allow_sharing_data_for_third_party_personalization"


@pytest.fixture(scope="module")
def replica_server() -> Iterator[ReplicaServer]:
    from conftest import TEST_SETTLE_MS

    server = ReplicaServer(settle_ms=TEST_SETTLE_MS).start()
    yield server
    server.stop()


@pytest.fixture
def fake_x(replica_server: ReplicaServer) -> ReplicaServer:
    """The module's replica, back to the accounts file's state for this test."""
    replica_server.admin.reset()
    return replica_server


@pytest.fixture(scope="module")
def replica_browser(playwright: Playwright, shared_browser: str) -> Iterator[Browser]:
    """The session's shared Chromium (tests/conftest.py), reached over CDP by this module's Playwright."""
    browser = playwright.chromium.connect_over_cdp(shared_browser)
    yield browser
    browser.close()  # disconnects; the shared browser lives on


@pytest.fixture
def replica_context(replica_browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Factory: a fresh browser context (own cookies), desktop-sized unless told otherwise."""
    made: list[BrowserContext] = []
    cdp = replica_browser.new_browser_cdp_session()
    user_agent = honest_user_agent(cdp.send("Browser.getVersion")["userAgent"])
    cdp.detach()

    def make(locale: str = "en-US", width: int = 1280, height: int = 800) -> BrowserContext:
        ctx = replica_browser.new_context(locale=locale, viewport={"width": width, "height": height},
                                          user_agent=user_agent)
        ctx.set_default_timeout(8000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


@pytest.fixture
def replica_page(replica_context: Callable[..., BrowserContext]) -> Page:
    return replica_context().new_page()


# ------------------------------------------------------------------ hand-written steps
def legacy_identifier(page: Page, identifier: str) -> None:
    field = page.locator('input[autocomplete="username"][name="text"]')
    field.fill(identifier)
    field.press("Enter")  # the contract: Enter in the field submits, whatever the button says


def legacy_password(page: Page, password: str) -> None:
    page.locator('input[name="password"][autocomplete="current-password"]').fill(password)
    page.locator('[data-testid="LoginForm_Login_Button"]').click()


def legacy_login(page: Page, base_url: str, handle: str, path: str = "/home") -> None:
    """Log in through the legacy modal and wait until the page asked for is drawn."""
    page.goto(base_url + path)
    legacy_identifier(page, handle)
    legacy_password(page, PASSWORDS[handle])
    page.wait_for_url(re.compile(re.escape(path) + "$"))


def totp_now(handle: str) -> str:
    return pyotp.TOTP(TOTP[handle]).now()


def details(page: Page):
    """The settings details column, found by structure rather than by its localised aria-label."""
    return page.locator("section.settings-details")


def checkboxes(page: Page):
    return details(page).locator('input[type="checkbox"]')


def open_setting(page: Page, base_url: str, path: str) -> None:
    page.goto(base_url + path)
    expect(checkboxes(page).first).to_be_visible()


def toast(page: Page):
    return page.locator('div[role="alert"]')


DEVICE_SIGNALS_JS = """async () => {
  const brands = (n) => ((n.userAgentData && n.userAgentData.brands) || []).map((b) => b.brand);
  const src = "postMessage({ua: navigator.userAgent, brands: ((navigator.userAgentData && navigator.userAgentData.brands) || []).map((b) => b.brand)})";
  const w = await new Promise((resolve) => {
    const worker = new Worker(URL.createObjectURL(new Blob([src], {type: "text/javascript"})));
    worker.onmessage = (e) => { worker.terminate(); resolve(e.data); };
  });
  return JSON.stringify({webdriver: navigator.webdriver === true, ua: navigator.userAgent, brands: brands(navigator),
                         worker_ua: w.ua, worker_brands: w.brands});
}"""


def device_token(page: Page) -> str:
    """What X's login page would send about this page's browser, read in the browser itself (the replica
    refuses a flow without it, as X does)."""
    return page.evaluate(DEVICE_SIGNALS_JS)


def login_bodies(flow_token: str, handle: str, password: str) -> list[dict]:
    """The bodies of a login through X's onboarding API after the flow is opened with the device token:
    identifier, then password (`logged_in_answer` tells whether the last answer let the account in)."""
    ident = {"setting_responses": [{"key": "user_identifier", "response_data": {"text_data": {"result": handle}}}]}
    return [
        {"flow_token": flow_token,
         "subtask_inputs": [{"subtask_id": "LoginEnterUserIdentifierSSO", "settings_list": ident}]},
        {"flow_token": flow_token,
         "subtask_inputs": [{"subtask_id": "LoginEnterPassword", "enter_password": {"password": password}}]},
    ]


def logged_in_answer(answer: dict) -> bool:
    return answer["subtasks"][0]["subtask_id"] == "LoginSuccessSubtask"


def api_login(ctx: BrowserContext, base_url: str, handle: str, password: str | None = None,
              page: Page | None = None) -> None:
    """Log a context in through the onboarding API, skipping the UI (for tests about other pages);
    `page`, if given, is where the device signals are read (otherwise a page opened for it)."""
    ctx.request.get(base_url + "/")

    def step(body: dict) -> dict:
        ct0 = next((c["value"] for c in ctx.cookies() if c["name"] == "ct0"), None)
        assert ct0, "no ct0 cookie: the replica's landing page sets one"
        res = ctx.request.post(base_url + "/1.1/onboarding/task.json", data=body, headers={"x-csrf-token": ct0})
        assert res.ok, res.text()
        return res.json()

    reader = page or ctx.new_page()
    try:
        flow = step({"input_flow_data": {"device_token": device_token(reader)}})["flow_token"]
    finally:
        if page is None:
            reader.close()
    answers = [step(body) for body in login_bodies(flow, handle, password or PASSWORDS[handle])]
    assert logged_in_answer(answers[-1]), answers[-1]


@pytest.fixture
def logged_in(fake_x, replica_context) -> Callable[..., Page]:
    """Factory: a page whose context is logged in as ``handle`` (via the API, not the UI)."""

    def make(handle: str, password: str | None = None, **context_args) -> Page:
        ctx = replica_context(**context_args)
        page = ctx.new_page()
        api_login(ctx, fake_x.base_url, handle, password, page=page)
        return page

    return make
