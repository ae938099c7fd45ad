"""Drive one setting page: get there (direct URL, else the menu path a person would take), read the
checkbox, switch it off, and reload so the caller can read what X really kept.

Nothing here trusts what the page shows right after a click: X flips a box optimistically, and a save
can fail or be undone later. Only a read after a fresh reload counts.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import Locator, Page, Response
from playwright.async_api import Error as PlaywrightError

from optout.catalog import SettingSpec
from optout.config import Settings
from optout.errors import SessionLost, UiChanged, XKeepsFailing  # noqa: F401  (SessionLost: driver.SessionLost)
from optout.x import screens
from optout.x.responses import XResponses, rate_limit_of

RETRIES = 3  # reloads after "Something went wrong" before giving up
GRACE_S = 2.5  # a drawn page may add its checkboxes a moment after its heading
POLL_S = 0.1


class SettingNotFound(Exception):
    """Neither the URL nor the menu led to the control: the per-setting outcome not_found."""

    def __init__(self, message: str, *, url: str | None = None) -> None:
        super().__init__(message)
        self.url = url


@dataclass
class SaveReport:
    """What switching off sent and what X answered (field names only: the values are public booleans)."""

    fields: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def clicked(self) -> bool:
        return bool(self.statuses) or bool(self.problems)


# ---- reaching the page --------------------------------------------------------------------------


async def open_setting(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses) -> str:
    """Show the setting's page; returns the route used: "direct" or "menu". `responses` watches the page
    (X's rate limits and failed API reads)."""
    await page.goto(settings.url(spec.path))
    if await _settle(page, spec, settings, responses):
        return "direct"
    if await _via_menu(page, spec, settings, responses):
        return "menu"
    raise SettingNotFound(
        f"The {spec.title} control was not found at {spec.path} nor through Settings and privacy -> "
        "Privacy and safety; X may have changed its pages.",
        url=page.url,
    )


async def _via_menu(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses) -> bool:
    """Home -> More -> Settings and privacy -> Privacy and safety -> the row whose href ends in the slug."""
    try:
        await page.goto(settings.url("/home"))
        await _click_when_ready(page, page.locator(screens.MORE_MENU).first, settings, responses)
        await _click_when_ready(page, page.locator(screens.SETTINGS_LINK).first, settings, responses)
        await _click_when_ready(page, page.locator(screens.PRIVACY_TAB).first, settings, responses)
        screen = page.locator(screens.PRIVACY_SCREEN).first
        await screen.wait_for(state="visible")
        row = screen.locator(f"a[href$='/{spec.slug}']").first
        if not await row.count():  # the screen is drawn whole: no row now means no row at all
            return False
        await _click_when_ready(page, row, settings, responses)
        await page.wait_for_url(lambda url: _on_page(url, spec))
    except PlaywrightError:
        responses.raise_if_hit()
        _raise_if_logged_out(page)
        return False
    return await _settle(page, spec, settings, responses)


async def _click_when_ready(page: Page, target: Locator, settings: Settings, responses: XResponses) -> None:
    """Click once visible, clearing a banner or dialog that would take the click."""
    deadline = time.monotonic() + settings.timeout_ms / 1000
    while not await _visible(target):
        responses.raise_if_hit()
        _raise_if_logged_out(page)
        await dismiss_overlays(page)
        if time.monotonic() > deadline:
            await target.wait_for(state="visible", timeout=1)  # raises Playwright's timeout
        await asyncio.sleep(POLL_S)
    await dismiss_overlays(page)
    await target.click()


async def _settle(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses) -> bool:
    """Wait until the page shows the setting's checkboxes (True), or has clearly drawn without them: a
    404 pane, a redirect elsewhere, a changed page (False). A page drawn after a failed API read (X's
    "Something went wrong. Try reloading.") is reloaded, a bounded number of times."""
    watch = responses
    timeout = settings.timeout_ms / 1000
    deadline = time.monotonic() + timeout
    drawn_since: float | None = None
    failures, reloads = watch.api_failures, 0
    while True:
        watch.raise_if_hit()
        _raise_if_logged_out(page)
        await dismiss_overlays(page)
        if _on_page(page.url, spec) and await _boxes(page).count() >= _needed(spec):
            return True
        if await _drawn(page):
            if watch.api_failures > failures:
                reloads += 1
                if reloads > RETRIES:
                    raise XKeepsFailing(
                        f"X kept answering 'Something went wrong' on {urlsplit(page.url).path} after "
                        f"{RETRIES} reloads.", hint="X may be having trouble; try again later.", url=page.url,
                    )
                await asyncio.sleep(reloads * 0.5)
                watch.raise_if_hit()
                failures = watch.api_failures
                await page.reload()
                drawn_since, deadline = None, time.monotonic() + timeout
                continue
            if await page.locator(screens.NOT_FOUND_PANE).count() or not _on_page(page.url, spec):
                return False
            drawn_since = drawn_since or time.monotonic()
            if time.monotonic() - drawn_since > GRACE_S:
                return False
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)


def _on_page(url: str, spec: SettingSpec) -> bool:
    """True on the setting's own page, whatever prefix X puts before its slug (a redirect elsewhere is not)."""
    return urlsplit(url).path.rstrip("/").endswith("/" + spec.slug)


def _needed(spec: SettingSpec) -> int:
    return max(spec.boxes[: spec.min_boxes]) + 1


async def _drawn(page: Page) -> bool:
    if await _visible(page.locator(screens.LOADING).first):
        return False
    return await page.locator(screens.PAGE_HEADING).count() > 0


def _raise_if_logged_out(page: Page) -> None:
    if any(marker in urlsplit(page.url).path for marker in screens.LOGIN_URL_MARKERS):
        raise SessionLost(
            "X sent the browser to its login screen in the middle of the run: the session ended.",
            hint="Run the command again; optout logs in afresh.", url=page.url,
        )


async def _visible(locator: Locator) -> bool:
    try:
        return await locator.is_visible()
    except PlaywrightError:
        return False


async def dismiss_overlays(page: Page) -> None:
    """Refuse non-essential cookies on the EU banner and close a welcome dialog, if either is showing."""
    for overlay, button in (
        (screens.COOKIE_BANNER, screens.COOKIE_REFUSE),
        (screens.WELCOME_DIALOG, screens.WELCOME_CLOSE),
    ):
        if await _visible(page.locator(overlay).first):
            target = page.locator(button).first
            if await _visible(target):
                try:
                    await target.click(timeout=2_000)
                    await page.locator(overlay).first.wait_for(state="hidden", timeout=2_000)
                except PlaywrightError:
                    pass  # it went away by itself, or will be tried again on the next poll


# ---- reading and switching ----------------------------------------------------------------------


def _boxes(page: Page) -> Locator:
    return page.locator(screens.SETTING_CHECKBOXES)


async def _present(page: Page, spec: SettingSpec) -> list[int]:
    """Positions of the setting's boxes on this page (a box beyond `min_boxes` may be absent)."""
    count = await _boxes(page).count()
    present = [pos for pos in spec.boxes if pos < count]
    if len(present) < spec.min_boxes:
        raise SettingNotFound(f"The {spec.title} page has fewer checkboxes than expected.", url=page.url)
    return present


def controls(page: Page, spec: SettingSpec, positions: list[int]) -> Locator:
    """One locator for the setting's boxes (for outlining them in screenshots)."""
    boxes = _boxes(page)
    combined = boxes.nth(positions[0])
    for pos in positions[1:]:
        combined = combined.or_(boxes.nth(pos))
    return combined


async def read_boxes(page: Page, spec: SettingSpec) -> dict[int, bool]:
    """Each present box's checked state, read from the checkbox itself, by position."""
    present = await _present(page, spec)
    states = {}
    for pos in present:
        box = _boxes(page).nth(pos)
        await _double_check_label(box, spec, pos, page.url)
        states[pos] = await box.is_checked()
    return states


async def read_state(page: Page, spec: SettingSpec) -> bool:
    """True when any of the setting's boxes is on (X may share), False when all are off."""
    return is_on(spec, await read_boxes(page, spec))


def is_on(spec: SettingSpec, states: dict[int, bool]) -> bool:
    return any(state != spec.safe_value for state in states.values())


async def _double_check_label(box: Locator, spec: SettingSpec, pos: int, url: str) -> None:
    """Position finds the box; an English label that names a neighbour instead means X reordered it."""
    if not spec.label_avoid:
        return
    label = (await box.evaluate(screens.CHECKBOX_LABEL_JS)).lower()
    if any(a in label for a in spec.label_avoid) and not any(h in label for h in spec.label_hints):
        raise UiChanged(
            f"The checkbox at position {pos + 1} of {spec.path} is labelled like a different setting; X may "
            "have reordered the page, so optout changed nothing there.",
            hint="Update optout; report the change if the newest version still fails.", url=url,
        )


async def switch_off(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses) -> SaveReport:
    """Click each of the setting's boxes that is on (only those), wait for each save and X's answer, then
    reload the page. The caller reads the state again: that read is the only one that counts."""
    report = SaveReport()
    for pos, state in (await read_boxes(page, spec)).items():
        if state == spec.safe_value:
            continue
        await _click_and_save(page, spec, pos, report, settings, responses)
    await asyncio.sleep(settings.verify_delay_s)  # X's backend settles, so a quiet revert shows
    await page.reload()
    if not await _settle(page, spec, settings, responses):
        raise SettingNotFound(f"After the reload the {spec.title} control was gone.", url=page.url)
    return report


async def _click_and_save(page: Page, spec: SettingSpec, pos: int, report: SaveReport, settings: Settings,
                          responses: XResponses) -> None:
    box = _boxes(page).nth(pos)
    try:
        async with page.expect_response(_is_save, timeout=settings.timeout_ms) as info:
            await box.click()
        response = await info.value
    except PlaywrightError:
        responses.raise_if_hit()
        report.problems.append("clicking the box sent no save request")
        return
    limited = await rate_limit_of(response)
    if limited:
        raise limited
    report.statuses.append(response.status)
    sent = list(parse_qs(response.request.post_data or "").keys())
    report.fields += sent
    if not response.ok:
        report.problems.append(f"X answered the save with HTTP {response.status}")
    expected = spec.api_fields[spec.boxes.index(pos)]
    if spec.api_fields_confirmed and sent and expected not in sent:
        await _undo(page, box, settings)
        raise UiChanged(
            f"The checkbox at position {pos + 1} of {spec.path} saved {', '.join(sent)} instead of {expected}; "
            "X changed the page. optout clicked it back.",
            hint="Update optout; report the change if the newest version still fails.", url=page.url,
        )


async def _undo(page: Page, box: Locator, settings: Settings) -> None:
    """Put back a box clicked by mistake: change only what was asked."""
    try:
        async with page.expect_response(_is_save, timeout=settings.timeout_ms):
            await box.click()
    except PlaywrightError:
        pass


def _is_save(response: Response) -> bool:
    return response.request.method == "POST" and urlsplit(response.url).path.endswith(screens.SETTINGS_API_SUFFIX)
