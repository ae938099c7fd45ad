"""``python -m recordings screenshots [OUTDIR]``: pictures of the replica's main screens for docs/replica/.

They let a reader compare the replica with X at a glance, and show a reviewer what the driver's
evidence screenshots will look like. Needs Playwright and a Chromium (``CHROMIUM`` env var, default
/usr/bin/chromium); test-only, like the rest of this package.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

from .scenarios import load_scenarios
from .server import ReplicaServer

CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
PARTNERS = "/settings/data_sharing_with_business_partners"


def _login(ctx: BrowserContext, base: str, handle: str) -> Page:
    """Log in through the legacy modal, as a person would."""
    password = next(s.password for s in load_scenarios() if s.key == handle)
    page = ctx.new_page()
    page.goto(base + "/i/flow/login")
    page.locator('input[autocomplete="username"]').fill(handle)
    page.keyboard.press("Enter")
    page.locator('input[name="password"]').fill(password)
    page.locator('[data-testid="LoginForm_Login_Button"]').click()
    page.wait_for_url("**/home")
    page.locator('[data-testid="primaryColumn"]').wait_for()
    return page


def _shots(base: str) -> dict[str, Callable[[BrowserContext], Page]]:
    def login_legacy(ctx):
        page = ctx.new_page()
        page.goto(base + "/i/flow/login")
        page.locator('input[autocomplete="username"]').fill("alice")
        return page

    def login_new(ctx):
        page = ctx.new_page()
        page.goto(base + "/i/jf/onboarding/web?mode=login")
        page.locator('input[name="username_or_email"]:visible').fill("diego")
        page.locator("form:visible button").click()
        password = page.locator('form:visible input[name="password"]')
        password.locator("xpath=..").and_(page.locator('[style*="opacity: 1"]')).wait_for()
        password.fill("hunter2-not-a-real-one")
        return page

    def login_2fa(ctx):
        page = ctx.new_page()
        page.goto(base + "/i/flow/login")
        page.locator('input[autocomplete="username"]').fill("carla")
        page.keyboard.press("Enter")
        page.locator('input[name="password"]').fill(next(s.password for s in load_scenarios() if s.key == "carla"))
        page.locator('[data-testid="LoginForm_Login_Button"]').click()
        page.locator('[data-testid="ocfEnterTextTextInput"]').wait_for()
        return page

    def home_more_menu(ctx):
        page = _login(ctx, base, "alice")
        page.locator('[data-testid="AppTabBar_More_Menu"]').click()
        page.locator('a[data-testid="settings"]').wait_for()
        return page

    def settings_page(path: str, handle: str = "alice"):
        def shot(ctx):
            page = _login(ctx, base, handle)
            page.goto(base + path)
            page.locator("section.settings-details h2").first.wait_for()
            page.locator("section.settings-details input, [data-testid=privacyAndSafetyScreen]").first.wait_for()
            return page
        return shot

    def cookie_banner(ctx):
        page = settings_page(PARTNERS, "banner")(ctx)
        page.locator('button[data-testid="app-bar-close"]').click()
        return page

    def not_found(ctx):
        page = _login(ctx, base, "alice")
        page.goto(base + "/settings/no_such_page")
        page.locator("section.settings-details .pane-message").wait_for()
        return page

    def privacy_policy(ctx):
        page = ctx.new_page()
        page.goto(base + "/en/privacy")
        return page

    return {
        "login-legacy": login_legacy,
        "login-new": login_new,
        "login-2fa": login_2fa,
        "home-more-menu": home_more_menu,
        "privacy-and-safety": settings_page("/settings/privacy_and_safety"),
        "business-partners": settings_page(PARTNERS),
        "grok-settings": settings_page("/settings/grok_settings"),
        "cookie-banner": cookie_banner,
        "not-found": not_found,
        "privacy-policy": privacy_policy,
    }


def take(outdir: Path) -> list[Path]:
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    # A drawing tool, not a test of the driver: the replica lets this plain Playwright browser log in.
    with ReplicaServer(automation_check=False) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=CHROMIUM_ARGS)
        for name, shot in _shots(server.base_url).items():
            server.admin.reset()
            ctx = browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
            page = shot(ctx)
            page.wait_for_timeout(450)  # past the page's own draw delay and the field transitions
            path = outdir / f"{name}.png"
            page.screenshot(path=path)
            written.append(path)
            ctx.close()
        browser.close()
    return written
