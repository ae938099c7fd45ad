"""How each X screen and control is recognised, in one place. Locators use URLs, roles, input
type/name/autocomplete and data-testid, never visible text, so they work in every display language."""

from __future__ import annotations

# ---- login screens (owned by x/login.py) ----


# ---- settings pages (owned by x/settings.py) ----
