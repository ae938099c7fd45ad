"""Which language a page is drawn in, and the string tables the page script draws with.

X labels every screen in the account's language; before it knows the account it goes by the ``lang``
cookie, then the browser's Accept-Language. A driver that only works in English fails here the way it
would fail on X.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .scenarios import LANGUAGES

STRINGS_DIR = Path(__file__).with_name("strings")


@lru_cache(maxsize=None)
def strings(lang: str) -> dict[str, str]:
    """The language's table; fr, pt and nl translate the settings screens only, the rest stays English
    (replica-only: X translates everything)."""
    table = json.loads((STRINGS_DIR / f"{lang}.json").read_text(encoding="utf-8"))
    return table if lang == "en" else {**strings("en"), **table}


def guest_language(cookie: str | None, accept_language: str | None) -> str:
    """The language for a visitor whose account is not known yet."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return "en"
