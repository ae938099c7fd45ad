"""Issue 12 item 13: every fallback screenshot (a run's failure/not-found shots, the login's failure shot)
masks every input a secret can be in. Proof without decoding images: the same screen with different
secrets typed in must give byte-identical screenshots, while the unmasked screenshots differ (so the
test could fail)."""

from __future__ import annotations

import pytest

from optout.browser import open_browser
from optout.config import load_settings
from optout.evidence import EvidenceRun
from optout.x.login import failure_screenshot

# The fields X's screens have held a secret in, as X marks them, plus a password revealed by the eye toggle.
SCREEN = """<html><body style="font: 28px sans-serif">
<form>
  <label><input type="checkbox" checked> a setting (stays visible)</label><br>
  <input type="password" name="password" autocomplete="current-password"><br>
  <input type="text" name="password"><br>
  <input type="text" inputmode="numeric" autocomplete="one-time-code" maxlength="1">
  <input type="text" autocomplete="one-time-code" maxlength="1"><br>
  <input data-testid="ocfEnterTextTextInput" name="text"><br>
  <input name="email_code"><br>
  <input type="tel" name="challenge_response"><br>
  <input type="email" name="email"><br>
  <textarea name="session"></textarea><br>
  <div contenteditable="true" style="min-height:30px;border:1px solid #000"></div>
</form></body></html>"""


async def _screen_with(page, secret: str) -> None:
    await page.set_content(SCREEN)
    for field in await page.locator("input:not([type=checkbox]), textarea").all():
        maxlength = await field.get_attribute("maxlength")
        await field.fill(secret[: int(maxlength)] if maxlength else secret)
    await page.locator("[contenteditable]").fill(secret)
    await page.locator("input[type=checkbox]").focus()  # no caret in a field


@pytest.fixture
def settings(tmp_path):
    return load_settings(data_dir=tmp_path / "data", state_dir=tmp_path / "state")


async def test_fallback_screenshots_mask_every_field_a_secret_can_be_in(tmp_path, settings):
    async with open_browser(settings) as session:
        context = await session.new_context()
        page = await context.new_page()
        shots = {}
        for secret in ("AAAAAAAA-1111", "ZZZZZZZZ-8888"):
            await _screen_with(page, secret)
            shots[secret] = {
                "plain": await page.screenshot(animations="disabled"),
                "run": (await EvidenceRun(tmp_path / "ev", "alice").screenshot(page, "failure-login")).read_bytes(),
                "login": (await failure_screenshot(page, tmp_path / f"login-{secret}.png")).read_bytes(),
            }
        await context.close()
    first, second = shots.values()
    assert first["plain"] != second["plain"]  # unmasked, the secrets show
    assert first["run"] == second["run"]
    assert first["login"] == second["login"]
