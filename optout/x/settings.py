"""Drive one setting page: get there (where the menu led last time, the catalog's URL, else the menu
path a person would take, by meaning), find its controls by what they say (optout/x/controls.py), switch
them off, and reload so the caller can read what X really kept.

Nothing here trusts what the page shows right after a click: X flips a box optimistically, and a save
can fail or be undone later. Only a read after a fresh reload counts.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from playwright.async_api import Locator, Page
from playwright.async_api import Error as PlaywrightError

from optout import texts
from optout.catalog import SettingSpec
from optout.config import Settings
from optout.errors import SessionLost, UiChanged, XKeepsFailing  # noqa: F401  (SessionLost: driver.SessionLost)
from optout.moved_pages import MovedPages
from optout.x import controls, saves, screens, sheets
from optout.x.responses import XResponses, rate_limit_of

RETRIES = 3  # reloads after "Something went wrong" before giving up
GRACE_S = 2.5  # a drawn page may add its checkboxes a moment after its heading
POLL_S = 0.1
NAVIGATED_AWAY = "Execution context was destroyed"  # Playwright's words for an evaluate cut short by a navigation


class SettingNotFound(Exception):
    """Neither the URL nor the menu led to the control: the per-setting outcome not_found."""

    def __init__(self, message: str, *, url: str | None = None, seen: list[str] | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.seen = seen or []  # the labels of the controls the page did show


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


@dataclass(frozen=True)
class Landing:
    """Where a login asked X to land a page (its redirect_after_login), and how many of X's API reads had
    failed on the page before that login began."""

    path: str
    api_failures: int


async def open_setting(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses, *,
                       landed: Landing | None = None) -> str:
    """Show the setting's page; returns the route used: "remembered" (where the menu led last time),
    "direct" (the catalog's URL) or "menu" (Settings -> Privacy and safety -> its row, by meaning).
    `responses` watches the page (X's rate limits and failed API reads). `landed`: where a login just
    landed this page (`first_path`); that page is not loaded a second time (`_load`)."""
    moved = MovedPages(settings)
    remembered = moved.get(spec.path)
    if remembered:
        await _load(page, settings, remembered, landed, responses)
        if await _settle(page, spec, settings, responses, here=_at_path(remembered)):
            return "remembered"
        moved.forget(spec.path)
    await _load(page, settings, spec.path, landed, responses)
    if await _settle(page, spec, settings, responses, here=_at_slug(spec.slug)):
        return "direct"
    if await _via_menu(page, spec, settings, responses):
        now = urlsplit(page.url).path.rstrip("/")
        if now != spec.path:
            moved.remember(spec.path, now)
        return "menu"
    raise SettingNotFound(
        f"The {spec.title} page was not found at {spec.path} nor through Settings -> Privacy and safety; "
        "X may have changed its pages.", url=page.url,
    )


def first_path(spec: SettingSpec, settings: Settings) -> str:
    """Where `open_setting` looks for the setting first: where the menu led last time, else the catalog's URL."""
    return MovedPages(settings).get(spec.path) or spec.path


async def _load(page: Page, settings: Settings, path: str, landed: Landing | None, responses: XResponses) -> None:
    """Load `path`, unless a login just landed the page there and none of X's API reads on it failed
    since: `_settle` counts failures from its own start, so one during the landing would go unretried."""
    clean_landing = landed is not None and landed.path == path and responses.api_failures == landed.api_failures
    if not (clean_landing and _at_path(path)(page.url)):
        await page.goto(settings.url(path))


def moved_to(page: Page, spec: SettingSpec) -> str | None:
    """The path X shows the setting's page at now, when it is not the catalog's."""
    now = urlsplit(page.url).path.rstrip("/")
    return None if now == spec.path else now


async def _via_menu(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses) -> bool:
    """Home -> More -> Settings -> Privacy and safety (its title in any known language, or its href) ->
    the row titled like the setting's page (or whose href ends in its slug), wherever it leads."""
    strings = texts.load(settings.config_dir)
    try:
        await page.goto(settings.url("/home"))
        await _click_when_ready(page, page.locator(screens.MORE_MENU).first, settings, responses)
        await _click_when_ready(page, page.locator(screens.SETTINGS_LINK).first, settings, responses)
        privacy = await _find_link(page, page.locator(screens.MENU_LINKS), "privacy_and_safety", strings, settings,
                                 responses)
        if privacy is None:
            return False
        await _click_when_ready(page, privacy, settings, responses)
        await page.wait_for_url(_at_slug("privacy_and_safety"))
        scope = page.locator(controls.PANE).locator(screens.MENU_LINKS)
        row = await _find_link(page, scope, spec.slug, strings, settings, responses)
        if row is None:
            return False
        before = page.url
        await _click_when_ready(page, row, settings, responses)
        await page.wait_for_url(lambda url: url != before)
    except PlaywrightError:
        responses.raise_if_hit()
        _raise_if_logged_out(page)
        return False
    return await _settle(page, spec, settings, responses, here=_at_path(urlsplit(page.url).path))


_LINKS_JS = "els => els.map(e => [e.getAttribute('href') || '', (e.innerText || e.getAttribute('aria-label') || '')])"


async def _find_link(page: Page, links: Locator, slug: str, strings, settings: Settings,
                     responses: XResponses) -> Locator | None:
    """The first link whose href ends in `slug`, else the first whose text says the page's title in
    any known language; None once the screen has been drawn a moment without one."""
    titles = strings.texts("titles", slug)
    deadline, drawn_since = time.monotonic() + settings.timeout_ms / 1000, None
    while time.monotonic() < deadline:
        responses.raise_if_hit()
        _raise_if_logged_out(page)
        state = await _look_clearing_overlays(page)
        found = await links.evaluate_all(_LINKS_JS)
        by_href = [i for i, (href, _) in enumerate(found) if urlsplit(href).path.rstrip("/").endswith("/" + slug)]
        by_title = [i for i, (_, text) in enumerate(found) if texts.says(text, titles)]
        if by_href or by_title:
            return links.nth((by_href or by_title)[0])
        if state.drawn:
            drawn_since = drawn_since or time.monotonic()
            if time.monotonic() - drawn_since > GRACE_S:
                return None
        await asyncio.sleep(POLL_S)
    return None


async def _click_when_ready(page: Page, target: Locator, settings: Settings, responses: XResponses) -> None:
    """Click once visible, clearing a banner or sheet that would take the click."""
    deadline = time.monotonic() + settings.timeout_ms / 1000
    while not await _visible(target):
        responses.raise_if_hit()
        _raise_if_logged_out(page)
        await _look_clearing_overlays(page)
        if time.monotonic() > deadline:
            await target.wait_for(state="visible", timeout=1)  # raises Playwright's timeout
        await asyncio.sleep(POLL_S)
    await _clear_overlays(page)
    await target.click()


async def _clear_overlays(page: Page) -> None:
    await dismiss_overlays(page)
    await sheets.clear(page)


@dataclass(frozen=True)
class _Look:
    """What one poll needs to know about the page, read in one round trip: a wait polls ten times a
    second, and one browser call per question was most of the CPU optout itself cost per page."""

    loading: bool = False
    heading: bool = False
    not_found: bool = False
    controls: int = 0
    overlay: bool = False  # a cookie banner, welcome dialog or sheet is showing: clearing it is due

    @property
    def drawn(self) -> bool:
        return not self.loading and self.heading


# Visible as Playwright's is_visible means it: laid out with a non-empty box, not visibility:hidden.
_LOOK_JS = """(sel) => {
  const shown = (el) => {
    if (!el) return false;
    if (getComputedStyle(el).display === 'contents') return [...el.children].some(shown);
    if (!el.checkVisibility({visibilityProperty: true})) return false;
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  };
  const all = (s) => [...document.querySelectorAll(s)];
  const controls = new Set(all(sel.pane).flatMap((pane) => [...pane.querySelectorAll(sel.controls)]));
  return {
    loading: shown(document.querySelector(sel.loading)),
    heading: all(sel.heading).length > 0,
    not_found: all(sel.not_found).length > 0,
    controls: controls.size,
    overlay: shown(document.querySelector(sel.banner)) || shown(document.querySelector(sel.welcome))
      || all(sel.sheet).some(shown),
  };
}"""
_LOOK_SELECTORS = {
    "loading": screens.LOADING, "heading": screens.PAGE_HEADING, "not_found": screens.NOT_FOUND_PANE,
    "pane": controls.PANE, "controls": controls.CONTROLS, "banner": screens.COOKIE_BANNER,
    "welcome": screens.WELCOME_DIALOG, "sheet": sheets.SHEET,
}


async def _look(page: Page) -> _Look:
    """The page as it is now, in one browser call: a wait polls ten times a second, and a locator's evaluate
    is about nine DevTools commands, each handled by the browser, the renderer, Playwright's driver and
    Python. A document replaced while it is read is a page not drawn yet: the next poll reads the new one."""
    try:
        return _Look(**await page.evaluate(_LOOK_JS, _LOOK_SELECTORS))
    except PlaywrightError as exc:
        if NAVIGATED_AWAY not in str(exc):
            raise
        return _Look(loading=True)


async def _look_clearing_overlays(page: Page) -> _Look:
    """The page, with any banner, dialog or sheet cleared first (and the page looked at again after)."""
    look = await _look(page)
    if not look.overlay:
        return look
    await _clear_overlays(page)
    return await _look(page)


async def _settle(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses, *,
                  here: Callable[[str], bool]) -> bool:
    """Wait until the page is drawn. True: drawn where expected (`here`) with the page's controls, or
    without them for a moment (the page is there but changed: identifying decides, quickly); False: a
    404 pane, a redirect elsewhere, nothing drawn in time. A page drawn after a failed API read (X's
    "Something went wrong. Try reloading.") is reloaded, a bounded number of times."""
    watch = responses
    timeout = settings.timeout_ms / 1000
    deadline = time.monotonic() + timeout
    drawn_since: float | None = None
    failures, reloads = watch.api_failures, 0
    while True:
        watch.raise_if_hit()
        _raise_if_logged_out(page)
        look = await _look_clearing_overlays(page)
        if look.drawn:
            if watch.api_failures > failures:
                reloads += 1
                if reloads > RETRIES:
                    raise XKeepsFailing(
                        f"X kept answering 'Something went wrong' on {urlsplit(page.url).path} after "
                        f"{RETRIES} reloads.", hint="X may be having trouble; try again later.", url=page.url,
                    )
                await asyncio.sleep(reloads * settings.reload_backoff_s)
                watch.raise_if_hit()
                failures = watch.api_failures
                await page.reload()
                drawn_since, deadline = None, time.monotonic() + timeout
                continue
            if look.not_found or not here(page.url):
                return False
            if look.controls >= max(1, len(spec.page.required)) or (
                    drawn_since and time.monotonic() - drawn_since > GRACE_S):
                if look.overlay:  # a sheet drawn with the page, after this poll cleared one
                    await _clear_overlays(page)
                return True
            drawn_since = drawn_since or time.monotonic()
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(POLL_S)


def _at_slug(slug: str) -> Callable[[str], bool]:
    """On the page whose last path segment is `slug`, whatever prefix X puts before it."""
    return lambda url: urlsplit(url).path.rstrip("/").endswith("/" + slug)


def _at_path(path: str) -> Callable[[str], bool]:
    return lambda url: urlsplit(url).path.rstrip("/") == path.rstrip("/")


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

# The last reading of each page, so screenshots can outline the controls and the receipt can say how
# each was identified without reading the page again.
_readings: weakref.WeakKeyDictionary[Page, list[controls.Seen]] = weakref.WeakKeyDictionary()


async def read_controls(page: Page, spec: SettingSpec, settings: Settings) -> list[controls.Seen]:
    """The page's controls, each identified (or not) against the catalog's page."""
    seen = controls.identify(await controls.read(page), spec.page, texts.load(settings.config_dir))
    _readings[page] = seen
    return seen


async def read_boxes(page: Page, spec: SettingSpec, settings: Settings) -> dict[str, bool]:
    """Each of the setting's controls shown on the page (by catalog key) and whether it is checked.
    None of them identified: SettingNotFound, naming what the page does show (nothing was clicked)."""
    seen = await read_controls(page, spec, settings)
    states = {s.key: s.checked for s in seen if s.key in spec.controls}
    if not states:
        labels = [s.label for s in seen]
        raise SettingNotFound(
            f"The {spec.title} control is not on {urlsplit(page.url).path}: the page shows "
            + (", ".join(f"\u201c{label}\u201d" for label in labels) if labels else "no control")
            + ", and neither their words nor their number match what optout knows. It changed nothing there.",
            url=page.url, seen=labels,
        )
    return states


async def read_state(page: Page, spec: SettingSpec, settings: Settings) -> bool:
    """True when any of the setting's controls is on (X may share), False when all are off."""
    return is_on(spec, await read_boxes(page, spec, settings))


def is_on(spec: SettingSpec, states: dict[str, bool]) -> bool:
    return any(state != spec.safe_value for state in states.values())


def identified_by(page: Page, spec: SettingSpec) -> dict[str, str]:
    """From the last reading: how each of the setting's controls was identified ("text"/"position")."""
    return {s.key: s.how for s in _readings.get(page, []) if s.key in spec.controls and s.how}


def unknown_controls(page: Page, spec: SettingSpec) -> list[dict]:
    """From the last reading: controls on the page that the catalog does not know (never clicked)."""
    return [{"page": spec.path, "label": s.label, "state": s.checked}
            for s in _readings.get(page, []) if s.key is None]


def control_locator(page: Page, spec: SettingSpec, keys: list[str]) -> Locator | None:
    """One locator for the setting's controls of the last reading (for outlining them in screenshots)."""
    indexes = [s.index for s in _readings.get(page, []) if s.key in keys]
    if not indexes:
        return None
    boxes = controls.pane_controls(page)
    combined = boxes.nth(indexes[0])
    for i in indexes[1:]:
        combined = combined.or_(boxes.nth(i))
    return combined


async def switch_off(page: Page, spec: SettingSpec, settings: Settings, responses: XResponses) -> SaveReport:
    """Click each of the setting's controls that is on (only those), wait for each save and X's answer,
    then reload the page. The caller reads the state again: that read is the only one that counts."""
    report = SaveReport()
    await read_boxes(page, spec, settings)
    for seen in [s for s in _readings[page] if s.key in spec.controls and s.checked != spec.safe_value]:
        await _click_and_save(page, spec, seen, report, settings, responses)
    await asyncio.sleep(settings.verify_delay_s)  # X's backend settles, so a quiet revert shows
    await page.reload()
    if not await _settle(page, spec, settings, responses, here=_at_path(urlsplit(page.url).path)):
        raise SettingNotFound(f"After the reload the {spec.title} control was gone.", url=page.url)
    return report


async def _click_and_save(page: Page, spec: SettingSpec, seen: controls.Seen, report: SaveReport,
                          settings: Settings, responses: XResponses) -> None:
    box = controls.pane_controls(page).nth(seen.index)
    await _clear_overlays(page)
    try:
        async with page.expect_response(saves.is_save, timeout=settings.timeout_ms) as info:
            await box.click()
        response = await info.value
    except PlaywrightError:
        responses.raise_if_hit()
        report.problems.append("clicking the control sent no save request")
        return
    limited = await rate_limit_of(response)
    if limited:
        raise limited
    report.statuses.append(response.status)
    sent = saves.written(response.request)
    report.fields += sent
    problem = await saves.refusal(response)
    if problem:
        report.problems.append(problem)
    save = spec.page.control(seen.key).save
    if save and save.confirmed and sent and not set(sent) & set(spec.api_fields):
        await _undo(page, box, settings)
        raise UiChanged(
            f"The control \u201c{seen.label[:80]}\u201d of {urlsplit(page.url).path} saved {', '.join(sent)} "
            f"instead of {save.name}; X changed the page. optout clicked it back.",
            hint="Update optout; report the change if the newest version still fails.", url=page.url,
        )


async def _undo(page: Page, box: Locator, settings: Settings) -> None:
    """Put back a control clicked by mistake: change only what was asked."""
    try:
        async with page.expect_response(saves.is_save, timeout=settings.timeout_ms):
            await box.click()
    except PlaywrightError:
        pass

