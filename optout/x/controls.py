"""Find a settings page's controls the way a screen reader user does: by role and by what they say.

A control is anything with role checkbox or switch (a native input or ARIA markup) inside the page's
main settings pane, not inside a sheet laid over it. Its state comes from `checked` / `aria-checked`.
It is identified by its accessible name or description (label, aria-labelledby, aria-describedby,
else the text beside it) matched against the catalog's texts in every language. Position decides only
when no text does and the page holds exactly the controls the catalog expects there: X inserts and
reorders controls, and a guessed click could switch the wrong thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.async_api import Locator, Page

from optout.catalog import PageSpec
from optout.texts import Strings, says

# The main settings pane: the section beside the settings list (the list is the one with tabs).
PANE = "section:not(:has([role=tab]))"
CONTROLS = "input[type=checkbox], [role=checkbox], [role=switch]"
# Per control (all CONTROLS in the pane, in DOM order, so an index is a locator's nth): role, accessible
# name and description, the text beside it, state, and whether a sheet holds it (those are skipped).
_READ_JS = """els => els.map(el => {
  const byIds = ids => (ids || '').split(/\\s+/).map(id => id && document.getElementById(id))
      .filter(Boolean).map(e => (e.innerText || e.textContent || '').trim()).join(' ');
  let name = el.getAttribute('aria-labelledby') ? byIds(el.getAttribute('aria-labelledby'))
      : (el.getAttribute('aria-label') || '');
  if (!name && el.labels && el.labels.length) name = [...el.labels].map(l => l.innerText).join(' ');
  if (!name && el.closest('label')) name = el.closest('label').innerText;
  let beside = '', up = el.parentElement;
  while (up && !(beside = (up.innerText || '').trim()) && !up.matches('section')) up = up.parentElement;
  const native = el.matches('input');
  return {role: el.getAttribute('role') || 'checkbox', name: (name || '').trim(),
          description: byIds(el.getAttribute('aria-describedby')), beside: beside.slice(0, 300),
          checked: native ? el.checked : el.getAttribute('aria-checked') === 'true',
          in_sheet: !!el.closest('[role=dialog], [aria-modal=true], [role=alertdialog]')};
})"""


@dataclass
class Seen:
    """One control as the page shows it, and what optout made of it."""

    index: int  # among the pane's CONTROLS (for clicking)
    role: str
    name: str
    description: str
    beside: str
    checked: bool
    key: str | None = None  # the catalog control it is, once identified
    how: str | None = None  # "text" or "position"

    @property
    def label(self) -> str:
        """What a person would call it (for messages and observations): name, else description."""
        return (self.name or self.description or self.beside)[:200]


def pane_controls(page: Page) -> Locator:
    return page.locator(PANE).locator(CONTROLS)


async def read(page: Page) -> list[Seen]:
    """The pane's controls (those in a sheet left out), in page order."""
    rows = await pane_controls(page).evaluate_all(_READ_JS)
    return [Seen(i, r["role"], r["name"], r["description"], r["beside"], r["checked"])
            for i, r in enumerate(rows) if not r["in_sheet"]]


def identify(seen: list[Seen], spec: PageSpec, strings: Strings) -> list[Seen]:
    """Name each seen control by text where exactly one catalog control's texts match it (and it is the
    only control matching them); else by position, only when the page's shape is the expected one."""
    for s in seen:
        s.key = s.how = None
        keys = _keys_said(spec, strings, s.name, s.description) or _keys_said(spec, strings, s.beside)
        if len(keys) == 1:
            s.key, s.how = keys[0], "text"
    ambiguous = False
    for key in {s.key for s in seen if s.key}:
        claimed = [s for s in seen if s.key == key]
        if len(claimed) > 1:  # two controls say the same: text cannot tell them apart, nor position
            ambiguous = True
            for s in claimed:
                s.key = s.how = None
    shape = None if ambiguous else _expected_shape(seen, spec)
    # Position is trusted only if every control identified by text sits where the catalog puts it.
    if shape and all(s.key in (None, c.key) for s, c in zip(seen, shape)):
        for s, control in zip(seen, shape):
            if s.key is None:
                s.key, s.how = control.key, "position"
    return seen


def _keys_said(spec: PageSpec, strings: Strings, *texts: str) -> list[str]:
    return [c.key for c in spec.controls
            if any(t and says(t, strings.texts("labels", c.key)) for t in texts)]


def _expected_shape(seen: list[Seen], spec: PageSpec):
    """The catalog controls the page's controls are, position by position, when the page holds exactly
    the expected set (all known controls, or the always-shown ones), same roles; else None."""
    for shape in (spec.controls, spec.required):
        if len(seen) == len(shape) and all(s.role == c.role for s, c in zip(seen, shape)):
            return shape
    return None


_OUTLINE_JS = """root => {
  const out = [];
  const implicit = el => el.getAttribute('role') || ({A: el.hasAttribute('href') ? 'link' : null,
      BUTTON: 'button', H1: 'heading', H2: 'heading', H3: 'heading', SECTION: 'region', NAV: 'navigation',
      INPUT: el.type === 'checkbox' ? 'checkbox' : (el.type === 'radio' ? 'radio' : 'textbox'),
      TEXTAREA: 'textbox', SELECT: 'combobox', LABEL: null, DIALOG: 'dialog'})[el.tagName];
  for (const el of root.querySelectorAll('*')) {
    const role = implicit(el);
    if (!role || ['presentation', 'none'].includes(role)) continue;
    const box = el.getBoundingClientRect();
    if (!box.width && !box.height) continue;
    const textish = !['textbox', 'combobox', 'searchbox'].includes(role);
    const name = el.getAttribute('aria-label') || (textish ? (el.innerText || '') : (el.placeholder || ''));
    const item = {role, name: name.trim().replace(/\\s+/g, ' ').slice(0, 160)};
    if (el.getAttribute('href')) item.href = el.getAttribute('href');
    out.push(item);
  }
  return out;
}"""


async def outline(page: Page) -> list[dict]:
    """The page as a bug report needs it: roles, accessible names and hrefs, never a field's value (a
    text field is named by its label or placeholder only)."""
    return await page.locator("body").evaluate(_OUTLINE_JS)
