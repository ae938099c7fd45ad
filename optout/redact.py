"""URLs as optout shows them in messages, warnings and the log. A URL the user configures can carry a
credential: a hosted browser's API key in the query (`wss://…?token=KEY`, `?apiKey=KEY`), a
`user:password@` before the host, a time-stamping authority's key. What optout shows keeps where the URL
points (scheme, host, port, path) and the names of the query's fields, never their values or the
user part, so an error printed to a terminal or written to optout.log leaks no key."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlsplit

HIDDEN = "***"


def shown_url(url: str) -> str:
    """`url` without its user part and with every query value hidden."""
    head, sep, rest = url.partition("//")
    if not sep:
        return url.split("@", 1)[-1] if "@" in url else url.split("?", 1)[0]
    authority, path_etc = _split_authority(rest)
    host = authority.rsplit("@", 1)[-1]
    user = f"{HIDDEN}@" if "@" in authority else ""
    path, _, query = path_etc.split("#", 1)[0].partition("?")
    fields = "&".join(f"{quote(k, safe='')}={HIDDEN}" for k, _ in parse_qsl(query, keep_blank_values=True))
    return f"{head}//{user}{host}{path}" + (f"?{fields}" if query else "")


def scrub(text: str, url: str | None) -> str:
    """`text` (a library's error message, say) with the secret parts of `url` hidden wherever they
    appear in it, raw or percent-decoded, and the URL itself shown as `shown_url` shows it."""
    if not url:
        return text
    text = text.replace(url, shown_url(url))
    for secret in sorted(_secrets(url), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _secrets(url: str) -> set[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    found = {parts.username, parts.password} | {value for _, value in parse_qsl(parts.query)}
    found |= {unquote(s) for s in found if s}
    return {s for s in found if s and len(s) >= 3}  # a one- or two-letter value would hide ordinary text


def _split_authority(rest: str) -> tuple[str, str]:
    """('user:pw@host:port', '/path?query#fragment') of what follows '//': the authority ends at the first
    '/', '?' or '#', as in urlsplit."""
    cut = min([at for at in (rest.find(mark) for mark in "/?#") if at != -1], default=len(rest))
    return rest[:cut], rest[cut:]
