"""Sheets X lays over a page after login (a terms update, a feature announcement, a "review your
settings" prompt) that take every click. One that offers no choice is cleared as a person would: its
close control, else Escape, else its one button (a single button decides nothing, it acknowledges).
One that offers a choice (two or more buttons, a toggle, a field) is never answered: the account
stops with needs_human. Nothing here reads the sheet's words, so it works in every language.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from optout.errors import NeedsHuman

SHEET = "[role=dialog], [role=alertdialog], [aria-modal=true]"
CLOSE = "[data-testid=app-bar-close], [data-testid=sheetDialogClose]"
_BUTTONS = "button, [role=button]"
_TOGGLES = "input[type=checkbox], input[type=radio], [role=checkbox], [role=switch], [role=radio]"
_FIELDS = "input:not([type=hidden]):not([type=checkbox]):not([type=radio]), textarea, select, [role=textbox]"
# Per sheet: its text, and how many visible buttons (its close control left out), toggles and fields.
_SHAPE_JS = """(el, sel) => {
  const shown = e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const count = s => [...el.querySelectorAll(s)].filter(shown).length;
  const buttons = [...el.querySelectorAll(sel.buttons)].filter(b => shown(b) && !b.matches(sel.close));
  return {text: (el.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 600), buttons: buttons.length,
          toggles: count(sel.toggles), fields: count(sel.fields)};
}"""
_SELECTORS = {"buttons": _BUTTONS, "close": CLOSE, "toggles": _TOGGLES, "fields": _FIELDS}


@dataclass
class Cleared:
    """A sheet optout cleared: what it said, how it went, and a screenshot taken before (PNG bytes)."""

    text: str
    how: str  # "close", "escape" or "button"
    png: bytes | None = None


@dataclass
class SheetLog:
    cleared: list[Cleared] = field(default_factory=list)

    def drain(self) -> list[Cleared]:
        taken, self.cleared = self.cleared, []
        return taken


_logs: weakref.WeakKeyDictionary[Page, SheetLog] = weakref.WeakKeyDictionary()


def log_of(page: Page) -> SheetLog:
    if page not in _logs:
        _logs[page] = SheetLog()
    return _logs[page]


async def clear(page: Page) -> None:
    """Clear every choice-free sheet now showing; raise NeedsHuman at the first one that asks."""
    for _ in range(5):  # sheets can queue up behind each other; more than a few means something else
        sheet = page.locator(SHEET).filter(visible=True).last
        try:
            if not await sheet.count():
                return
            shape = await sheet.evaluate(_SHAPE_JS, _SELECTORS)
            png = await page.screenshot()
        except PlaywrightError:
            return  # it went while we looked
        how = await _clear_one(page, sheet, shape)
        log_of(page).cleared.append(Cleared(shape["text"], how, png))


async def _clear_one(page: Page, sheet, shape: dict) -> str:
    close = sheet.locator(CLOSE).filter(visible=True).first
    if await close.count() and await _gone_after(sheet, close.click(timeout=2_000)):
        return "close"
    if shape["buttons"] >= 2 or shape["toggles"] or shape["fields"]:
        raise _asks(page, shape)
    if await _gone_after(sheet, page.keyboard.press("Escape")):
        return "escape"
    button = sheet.locator(_BUTTONS).filter(visible=True).first
    if shape["buttons"] == 1 and await _gone_after(sheet, button.click(timeout=2_000)):
        return "button"
    raise _asks(page, shape)


async def _gone_after(sheet, action) -> bool:
    try:
        await action
        await sheet.wait_for(state="hidden", timeout=1_500)
        return True
    except PlaywrightError:
        return False


def _asks(page: Page, shape: dict) -> NeedsHuman:
    return NeedsHuman(
        f"X shows a sheet that asks for a decision, so optout stopped without answering it: "
        f"\u201c{shape['text'][:300]}\u201d",
        hint="Open X in a browser, answer it yourself, then run optout again.", url=page.url,
    )
