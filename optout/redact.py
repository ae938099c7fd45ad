"""URLs as optout shows them in messages, warnings and the log. A URL the user configures can carry a
credential: a hosted browser's API key in the query (`wss://…?token=KEY`, `?apiKey=KEY`), a
`user:password@` before the host, a time-stamping authority's key. What optout shows keeps where the URL
points (scheme, host, port, path) and the names of the query's fields, never their values or the
user part. When in doubt it hides more: a '@' before the query (or, when a password holds a '?', before
the path) ends the user part."""

from __future__ import annotations

import re
from urllib.parse import quote, quote_plus, unquote, unquote_plus

HIDDEN = "***"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s'\"<>]+")  # a bounded scheme keeps it linear
_MIN_VALUE = 6  # a query value shorter than this is hidden inside URLs only, not in ordinary words
_MIN_USER_PART = 3


def shown_url(url: str) -> str:
    """`url` without its user part and with every query value hidden (a field without a name: `***`);
    text that does not start with a scheme keeps only what comes after any '@' and before '?' or '#'."""
    scheme = _SCHEME.match(url)
    if not scheme:
        return re.split(r"[?#]", url.rsplit("@", 1)[-1], maxsplit=1)[0]
    rest = url[scheme.end():]
    user_end = _user_part_end(rest)
    user = f"{HIDDEN}@" if user_end >= 0 else ""
    rest = rest[user_end + 1:]
    cut = min([at for at in (rest.find(mark) for mark in "/?#") if at != -1], default=len(rest))
    path, _, query = rest[cut:].split("#", 1)[0].partition("?")
    fields = "&".join(_hidden_field(pair) for pair in query.split("&") if pair)
    return f"{scheme.group(0)}{user}{rest[:cut]}{path}" + (f"?{fields}" if query else "")


def scrub(text: str, url: str | None) -> str:
    """`text` (a library's error message, say) with the secret parts of `url` hidden wherever they
    appear, in the forms a library writes them (any letter case of their escapes), and every URL in it
    shown as `shown_url` shows it."""
    if not url:
        return text
    secrets = sorted(_secrets(url), key=len, reverse=True)
    if secrets:
        text = re.sub("|".join(map(re.escape, secrets)), HIDDEN, text, flags=re.IGNORECASE)
    return _URL_IN_TEXT.sub(lambda found: shown_url(found.group(0)), text)


def _user_part_end(rest: str) -> int:
    """Where the user part of what follows '://' ends (its '@'), or -1. A password may hold '/' or '#'
    (the last '@' before the query ends it) or '?' (the last '@' before the path does)."""
    for end in (rest.split("?", 1)[0], rest.split("/", 1)[0]):
        if "@" in end:
            return end.rfind("@")
    return -1


def _hidden_field(pair: str) -> str:
    name, eq, _ = pair.partition("=")
    return f"{name}={HIDDEN}" if eq else HIDDEN


def _secrets(url: str) -> set[str]:
    """The user part's pieces and the query's and fragment's values, raw, decoded and encoded."""
    scheme = _SCHEME.match(url)
    rest = url[scheme.end():] if scheme else url
    user_end = _user_part_end(rest)
    user_part, rest = (rest[:user_end], rest[user_end + 1:]) if user_end >= 0 else ("", rest)
    name, has_password, password = user_part.partition(":")
    users = {user_part, password} | ({name} if not has_password or len(name) >= _MIN_VALUE else set())
    users = {piece for piece in users if len(piece) >= _MIN_USER_PART}
    before_query, _, after = rest.partition("?")
    host = re.split(r"[/#]", before_query, maxsplit=1)[0].lower()
    fields = re.split(r"[&#]", after + "#" + (before_query.split("#", 1)[1] if "#" in before_query else ""))
    values = {value if eq else name for name, eq, value in (field.partition("=") for field in fields)}
    forms = {form for raw in users | values for form in _forms(raw)}
    kept = {form for form in forms if len(form) >= _MIN_VALUE or form in users}
    # what the message shows anyway (the host) or needs to stay readable (a scheme) is never hidden
    return {form for form in kept if form.lower() not in host and form.lower() not in _SCHEME_WORDS}


_SCHEME_WORDS = "https:// wss:// socks5:// ftp://"


def _forms(raw: str) -> set[str]:
    decoded = {raw, unquote(raw, errors="surrogateescape"), unquote_plus(raw, errors="surrogateescape")}
    encoded = set()
    for value in decoded:
        try:
            encoded |= {quote(value, safe=""), quote_plus(value, safe="")}
        except UnicodeError:  # a lone surrogate (a non-UTF-8 byte in the setting): it has no encoded form
            pass
    return {form for form in decoded | encoded if form}
