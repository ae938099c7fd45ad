"""URLs as optout shows them in messages, warnings and the log. A URL the user configures can carry a
credential: a hosted browser's API key in the query (`wss://…?token=KEY`, `?apiKey=KEY`), a
`user:password@` before the host, a time-stamping authority's key. What optout shows keeps where the URL
points (scheme, host, port, path) and the names of the query's fields, never their values or the
user part."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

HIDDEN = "***"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_MIN_SECRET = 6  # shorter values are hidden inside URLs only: elsewhere they would hide ordinary words


def shown_url(url: str) -> str:
    """`url` without its user part and with every query value hidden (a field without a name: `***`);
    text that does not start with a scheme keeps only what comes before any '@', '?' or '#'."""
    scheme = _SCHEME.match(url)
    if not scheme:
        return re.split(r"[?#]", url.rsplit("@", 1)[-1], maxsplit=1)[0]
    rest = url[scheme.end():]
    cut = min([at for at in (rest.find(mark) for mark in "/?#") if at != -1], default=len(rest))
    host = rest[:cut].rsplit("@", 1)[-1]
    user = f"{HIDDEN}@" if "@" in rest[:cut] else ""
    path, _, query = rest[cut:].split("#", 1)[0].partition("?")
    fields = "&".join(_hidden_field(pair) for pair in query.split("&") if pair)
    return f"{scheme.group(0)}{user}{host}{path}" + (f"?{fields}" if query else "")


def scrub(text: str, url: str | None) -> str:
    """`text` (a library's error message, say) with every URL in it shown as `shown_url` shows it, and
    the secret parts of `url` hidden wherever else they appear, in the forms a library writes them."""
    if not url:
        return text
    text = _URL_IN_TEXT.sub(lambda found: shown_url(found.group(0)), text)
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _hidden_field(pair: str) -> str:
    name, eq, _ = pair.partition("=")
    return f"{name}={HIDDEN}" if eq else HIDDEN


def _secrets(url: str) -> set[str]:
    """The user part's pieces and the query's values, raw and in their decoded and encoded forms."""
    scheme = _SCHEME.match(url)
    rest = url[scheme.end():] if scheme else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    raw = set(authority.rsplit("@", 1)[0].split(":", 1)) if "@" in authority else set()
    query = rest.partition("?")[2].split("#", 1)[0]
    raw |= {value if eq else name for name, eq, value in (pair.partition("=") for pair in query.split("&"))}
    forms = {f(value) for value in raw for f in (str, unquote, unquote_plus)}
    forms |= {f(value, safe="") for value in set(forms) for f in (quote, quote_plus)}
    return {form for form in forms if len(form) >= _MIN_SECRET}
