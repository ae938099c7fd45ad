"""URLs as optout shows them in messages, warnings and the log. A URL the user configures can carry a
credential: a hosted browser's API key in the query (`wss://…?token=KEY`, `?apiKey=KEY`), a
`user:password@` before the host, a time-stamping authority's key. What optout shows keeps where the URL
points (scheme, host, port, the short words of a plain path) and the names of the query's fields,
never their values, the user part, or a long path segment that may be a token. A URL it cannot read
for certain (a password holding '/', '?' or '#', an '@' after the host before any path) is shown as
its scheme and `***` alone."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

HIDDEN = "***"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,31}://[^\s'\"<>]+")  # a bounded scheme keeps it linear
_HOST = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?|\[[0-9A-Fa-f:.]+\])(?::\d*)?")
_PATH = re.compile(r"[A-Za-z0-9._~/-]*")
_NAME = re.compile(r"[A-Za-z0-9_.~-]+")
_DELIMITERS = re.compile(r"[:@/?#&=;,\[\]]")
_SCHEME_WORDS = frozenset({"http", "https", "ws", "wss", "socks5", "ftp"})
_LONG_SEGMENT = 16  # a path segment this long may be a token (a DevTools browser id is a UUID): hidden
_MIN_VALUE = 6  # shorter pieces are hidden inside URLs only, not in ordinary words elsewhere
_MIN_USER_PART = 3


def shown_url(url: str) -> str:
    """`url` with its user part as `***`, every query value hidden, a long path segment as `***` and a
    path that is not plain as `/***`; text that is not a URL shows only what looks like a host after any
    '@', else `***`."""
    scheme = _SCHEME.match(url)
    if not scheme:
        bare = re.split(r"[?#]", url.rsplit("@", 1)[-1], maxsplit=1)[0]
        return bare if _HOST.fullmatch(bare) else HIDDEN
    head = scheme.group(0)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  ValueError: a port that is no number (a password holding '/', '?' or '#')
    except ValueError:
        return head + HIDDEN
    hostport = parts.netloc.rpartition("@")[2]
    after_host = url[scheme.end() + len(parts.netloc):]
    if not _HOST.fullmatch(hostport) or "@" in after_host.split("/", 1)[0]:
        return head + HIDDEN
    user = f"{HIDDEN}@" if "@" in parts.netloc else ""
    path = "/".join(seg if len(seg) < _LONG_SEGMENT else HIDDEN for seg in parts.path.split("/")) \
        if _PATH.fullmatch(parts.path) else "/" + HIDDEN
    fields = "&".join(_hidden_field(pair) for pair in parts.query.split("&") if pair)
    return head + user + hostport + path + (f"?{fields}" if parts.query else "")


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


def _hidden_field(pair: str) -> str:
    name, eq, _ = pair.partition("=")
    return f"{name}={HIDDEN}" if eq and _NAME.fullmatch(name) else HIDDEN


def _secrets(url: str) -> set[str]:
    """Everything in `url` that `shown_url` does not show: each piece between its delimiters (6+
    characters), each query value whole, and the user part's pieces (3+ characters; a short user name
    beside a password stays readable), raw, decoded and encoded."""
    scheme = _SCHEME.match(url)
    rest = url[scheme.end():] if scheme else url
    users: set[str] = set()
    for before in (rest.split("?", 1)[0], rest.split("/", 1)[0]):  # a password may hold '/' or '?'
        user_part = before.rpartition("@")[0]
        name, has_password, password = user_part.partition(":")
        users |= {user_part, password, *password.split(":")}
        users |= {name} if not has_password or len(name) >= _MIN_VALUE else set()
    users = {piece for piece in users if len(piece) >= _MIN_USER_PART}
    values = {value for _, value in parse_qsl(rest.partition("?")[2], keep_blank_values=True)}
    values |= {piece.partition("=")[2] for piece in re.split(r"[&#;]", rest)}
    pieces = set(_DELIMITERS.split(rest)) | values
    forms = {form for raw in users | pieces for form in _forms(raw)}
    visible = shown_url(url).lower()
    shown = set(_DELIMITERS.split(visible)) | set(re.split(r"[:@/?#&=;,.\[\]]", visible))  # host, its labels
    return {form for form in forms if (len(form) >= _MIN_VALUE or form in users)
            and form.lower() not in shown and form.lower() not in _SCHEME_WORDS}


def _forms(raw: str) -> set[str]:
    decoded = {raw, unquote(raw, errors="surrogateescape"), unquote_plus(raw, errors="surrogateescape")}
    encoded = set()
    for value in decoded:
        try:
            encoded |= {quote(value, safe=""), quote_plus(value, safe="")}
        except UnicodeError:  # a lone surrogate (a non-UTF-8 byte in the setting): it has no encoded form
            pass
    return {form for form in decoded | encoded if form}
