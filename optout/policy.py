"""Watch X's privacy policy: fetch base URL + /en/privacy, extract the effective date and the body text,
normalise and hash it, and store each version the first time it is seen.

Why plain HTTP first: X serves the policy server-rendered (no app shell), so one urllib request reads it
in milliseconds without a browser. When the answer is not a readable policy (a JavaScript shell, a bot
check) and a browser is at hand, the page is rendered once in Chromium and read from there. A network
failure or a page that still cannot be read is an error (EnvironmentProblem, PolicyUnreadable), never a
"new version".
"""

from __future__ import annotations

import asyncio
import codecs
import difflib
import hashlib
import http.client
import logging
import re
import time
import unicodedata
import urllib.error
import urllib.request
from datetime import date
from html.parser import HTMLParser

from pydantic import BaseModel

from optout import __version__
from optout.browser import open_browser
from optout.config import Settings
from optout.daemon_thread import run_in_daemon_thread
from optout.errors import EnvironmentProblem, OptoutError, PolicyUnreadable
from optout.store import Store, StoredPolicy

log = logging.getLogger(__name__)

POLICY_PATH = "/en/privacy"
MIN_BODY_CHARS = 200  # below this the page is an error page or a shell, not a policy
FETCH_TIMEOUT_S = 30
FETCH_DEADLINE_S = 20.0  # the whole read, however slowly the server trickles
MAX_POLICY_BYTES = 5_000_000  # X's policy is ~100 KB; more is not a policy page

_SKIP_TAGS = {"script", "style", "noscript", "svg", "nav", "header", "footer", "template", "head"}
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul",
               "ol", "br", "tr", "table", "blockquote", "pre", "dd", "dt", "body"}

# "Effective: January 15, 2026" and its translations. Numbers are matched in every language; month names
# for the languages the driver supports (en, de, es, fr, pt, ja uses numbers).
_MONTHS = {
    **{m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"], 1)},
    **{m: i for i, m in enumerate(["januar", "februar", "märz", "april", "mai", "juni", "juli", "august",
                                   "september", "oktober", "november", "dezember"], 1)},
    **{m: i for i, m in enumerate(["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                   "septiembre", "octubre", "noviembre", "diciembre"], 1)},
    **{m: i for i, m in enumerate(["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                                   "septembre", "octobre", "novembre", "décembre"], 1)},
    **{m: i for i, m in enumerate(["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho",
                                   "agosto", "setembro", "outubro", "novembro", "dezembro"], 1)},
}
_EFFECTIVE_WORDS = r"(?:effective(?:\s+date)?|gültig\s+ab|in\s+kraft\s+seit|wirksam\s+ab|vigente(?:\s+desde)?|" \
                   r"fecha\s+de\s+entrada\s+en\s+vigor|en\s+vigueur(?:\s+le)?|date\s+d'entrée\s+en\s+vigueur|" \
                   r"em\s+vigor|vigência|発効日|有効日|施行日)"
_DATE_FORMS = (
    # January 15, 2026
    (r"(?P<month>[^\W\d_]+)\.?\s+(?P<day>\d{1,2}),?\s+(?P<year>\d{4})", "mdy"),
    # 15. Januar 2026 / 15 de enero de 2026 / 15 janvier 2026
    (r"(?P<day>\d{1,2})\.?\s+(?:de\s+)?(?P<month>[^\W\d_]+)\.?\s+(?:de\s+)?(?P<year>\d{4})", "dmy"),
    # 2026年1月15日
    (r"(?P<year>\d{4})\s*年\s*(?P<month>\d{1,2})\s*月\s*(?P<day>\d{1,2})\s*日", "ymd"),
    # 2026-01-15
    (r"(?P<year>\d{4})-(?P<month>\d{1,2})-(?P<day>\d{1,2})", "ymd"),
)


class PolicySnapshot(BaseModel):
    """One reading of the page."""

    url: str
    effective_label: str  # as written on the page
    effective_date: date | None  # parsed, when the month name is known
    text: str  # normalised body text
    text_hash: str  # SHA-256 of `text`


class PolicyCheck(BaseModel):
    """What `optout policy` and a recheck learn: the current version and whether it is new."""

    current: StoredPolicy
    previous: StoredPolicy | None = None  # the version seen before the current one
    new_version: bool  # its text was never seen before
    first_reading: bool  # no version was known at all before this one


class PolicyDiff(BaseModel):
    old: StoredPolicy
    new: StoredPolicy
    summary: list[str]  # plain sentences for people and notifications
    unified: str  # unified diff of the normalised texts


class _TextExtractor(HTMLParser):
    """Visible text of <main> (or <body> when there is no <main>), one line per block element."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0
        self.anchors: list[bool] = []
        self.parts: dict[str, list[str]] = {"main": [], "body": []}
        self.in_main = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            # Links to earlier versions change with every new version: noise, not policy text.
            self.anchors.append("/previous/" in (dict(attrs).get("href") or ""))
            self.skip_depth += self.anchors[-1]
        if tag in _SKIP_TAGS:
            self.skip_depth += 1
        if tag == "main" or (tag == "article" and not self.in_main):
            self.in_main += 1
        if tag == "title":
            self._in_title = True
        if tag in _BLOCK_TAGS:
            self._emit("\n")

    def handle_endtag(self, tag):
        if tag in _SKIP_TAGS and self.skip_depth:
            self.skip_depth -= 1
        if tag == "a" and self.anchors:
            self.skip_depth -= self.anchors.pop()
        if tag in ("main", "article") and self.in_main:
            self.in_main -= 1
        if tag == "title":
            self._in_title = False
        if tag in _BLOCK_TAGS:
            self._emit("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self.skip_depth:
            self._emit(re.sub(r"\s+", " ", data))  # in HTML a newline is a space; blocks make the lines

    def _emit(self, text: str) -> None:
        self.parts["body"].append(text)
        if self.in_main:
            self.parts["main"].append(text)

    def text(self) -> str:
        main = "".join(self.parts["main"])
        return main if main.strip() else "".join(self.parts["body"])


def normalise(text: str) -> str:
    """The form that is hashed: NFKC, whitespace collapsed within lines, no empty lines. Markup and
    spacing changes then make no new version; any change of wording does."""
    text = unicodedata.normalize("NFKC", text)
    lines = (" ".join(line.split()) for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def find_effective(text: str) -> tuple[str, date | None] | None:
    """The effective date as written and, when its month is known, as a date; None when absent."""
    for line in text.splitlines()[:80]:
        head = re.search(_EFFECTIVE_WORDS + r"\s*[:：]?\s*", line, re.IGNORECASE)
        if not head:
            continue
        rest = line[head.end():]
        for pattern, order in _DATE_FORMS:
            match = re.match(pattern, rest)
            if match:
                return match.group(0).strip(), _to_date(match, order)
    return None


def _to_date(match: re.Match, order: str) -> date | None:
    month = match.group("month")
    number = int(month) if month.isdigit() else _MONTHS.get(month.lower())
    try:
        return date(int(match.group("year")), number, int(match.group("day"))) if number else None
    except ValueError:
        return None


def parse_policy(html: str, url: str) -> PolicySnapshot:
    """Read the effective date and the body text; PolicyUnreadable when either is missing."""
    extractor = _TextExtractor()
    extractor.feed(html)
    text = normalise(extractor.text())
    effective = find_effective(text)
    if effective is None or len(text) < MIN_BODY_CHARS:
        what = "no 'Effective: <date>' line" if effective is None else f"only {len(text)} characters of text"
        raise PolicyUnreadable(
            f"The privacy policy page {url} could not be read ({what}); no new version was recorded.",
            hint="X may have changed the page. Open it in a browser; if it looks normal, please report this.",
        )
    label, when = effective
    return PolicySnapshot(url=url, effective_label=label, effective_date=when, text=text,
                          text_hash=hashlib.sha256(text.encode()).hexdigest())


def _http_get(url: str, deadline: float) -> str:
    """GET the page: at most MAX_POLICY_BYTES, and no reading past `deadline` (time.monotonic()); a
    charset Python does not know is read as UTF-8."""
    request = urllib.request.Request(url, headers={
        "User-Agent": f"Mozilla/5.0 (compatible; optout/{__version__})",
        "Accept": "text/html", "Accept-Language": "en",
    })
    with urllib.request.urlopen(request, timeout=min(FETCH_TIMEOUT_S, FETCH_DEADLINE_S)) as response:
        body = bytearray()
        while chunk := response.read1(65536):
            body += chunk
            if len(body) > MAX_POLICY_BYTES:
                raise PolicyUnreadable(f"The privacy policy page {url} is larger than {MAX_POLICY_BYTES} bytes.")
            if time.monotonic() > deadline:
                raise TimeoutError(f"still reading after {FETCH_DEADLINE_S:g} s")
        if response.length:  # the connection ended before Content-Length: half a policy is not a version
            raise http.client.IncompleteRead(bytes(body), response.length)
        return bytes(body).decode(_charset(response.headers.get_content_charset()), errors="replace")


def _charset(name: str | None) -> str:
    try:
        return codecs.lookup(name or "utf-8").name
    except LookupError:
        return "utf-8"


async def _fetch_html(url: str) -> str:
    """`_http_get` with a total deadline: a server that never finishes costs the run FETCH_DEADLINE_S at
    most, and cannot keep the process alive at exit."""
    try:
        return await run_in_daemon_thread(lambda: _http_get(url, time.monotonic() + FETCH_DEADLINE_S),
                                          FETCH_DEADLINE_S + 1, name="optout-policy-read")
    except TimeoutError:
        raise TimeoutError(f"no complete answer within {FETCH_DEADLINE_S:g} s") from None


async def _browser_get(browser, url: str, settings: Settings) -> str:
    """Render the page in a fresh context of an open BrowserSession (for pages that need JavaScript)."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        await page.goto(url, wait_until="networkidle", timeout=settings.navigation_timeout_ms)
        return await page.content()
    finally:
        await context.close()


async def fetch_policy(settings: Settings, browser=None) -> PolicySnapshot:
    """Read the live policy. `browser` (an open BrowserSession) is the fallback for pages plain HTTP
    cannot read; without one, such a page is PolicyUnreadable."""
    url = settings.url(POLICY_PATH)
    try:
        html = await _fetch_html(url)
        return parse_policy(html, url)
    except urllib.error.HTTPError as exc:
        if browser is None:
            raise PolicyUnreadable(f"The privacy policy page {url} answered HTTP {exc.code}.",
                                   hint="X may be blocking plain requests; open the page in a browser.") from None
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or f"{type(exc).__name__}: {exc}"[:200]
        raise EnvironmentProblem(f"Could not reach {url} ({reason}).",
                                 hint="Check the network connection and the base URL.") from None
    except PolicyUnreadable:
        if browser is None:
            raise
    return parse_policy(await _browser_get(browser, url, settings), url)


def record(store: Store, snapshot: PolicySnapshot) -> PolicyCheck:
    """Store the reading; say whether it is a version never seen before."""
    first_reading = not store.policies(limit=1)
    current, new_version = store.record_policy(
        text_hash=snapshot.text_hash, url=snapshot.url, text=snapshot.text,
        effective_label=snapshot.effective_label,
        effective_date=snapshot.effective_date.isoformat() if snapshot.effective_date else None,
    )
    known = store.policies(limit=2)
    previous = known[1] if len(known) > 1 else None
    return PolicyCheck(current=current, previous=previous, new_version=new_version and not first_reading,
                       first_reading=first_reading)


async def check_policy(settings: Settings, store: Store, browser=None) -> PolicyCheck:
    """Fetch, then record: the one call `optout policy` and a recheck make."""
    return record(store, await fetch_policy(settings, browser))


async def version_for_receipts(settings: Settings, store: Store) -> str | None:
    """The policy version a run's receipts name. Best effort: an opt-out must not fail, or wait long,
    because the policy page could not be read; the receipt then names no version and the log says why."""
    try:
        return (await check_policy(settings, store)).current.receipt_label
    except OptoutError as exc:
        log.warning("policy: not read for the receipts: %s", exc.message)
    except Exception as exc:  # anything else a strange answer causes: logged, and the run goes on
        log.warning("policy: not read for the receipts: %s", f"{type(exc).__name__}: {exc}"[:300])
    return None


def diff(store: Store) -> PolicyDiff | None:
    """The change between the two most recently seen versions; None when fewer than two are known."""
    known = store.policies(limit=2)
    if len(known) < 2:
        return None
    new, old = known
    return diff_between(old, new)


def diff_between(old: StoredPolicy, new: StoredPolicy) -> PolicyDiff:
    return PolicyDiff(old=old, new=new, summary=summarise(old, new), unified=unified(old, new))


def unified(old: StoredPolicy, new: StoredPolicy) -> str:
    return "".join(difflib.unified_diff(
        (old.text + "\n").splitlines(keepends=True), (new.text + "\n").splitlines(keepends=True),
        fromfile=f"effective {old.effective_label} (first seen {old.first_seen:%Y-%m-%d})",
        tofile=f"effective {new.effective_label} (first seen {new.first_seen:%Y-%m-%d})", n=1,
    ))


def summarise(old: StoredPolicy, new: StoredPolicy) -> list[str]:
    """A few sentences a person can read in a notification: dates, size of the change, which sections."""
    matcher = difflib.SequenceMatcher(None, old.text.splitlines(), new.text.splitlines(), autojunk=False)
    added = removed = 0
    sections: list[str] = []
    new_lines = new.text.splitlines()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        removed += i2 - i1
        added += j2 - j1
        section = _section_of(new_lines, j1)
        if section and section not in sections:
            sections.append(section)
    dates = (f"Effective date changed from {old.effective_label} to {new.effective_label}."
             if old.effective_label != new.effective_label else
             f"Effective date unchanged ({new.effective_label}), but the text changed.")
    lines = [dates, f"{added} paragraph(s) added or rewritten, {removed} removed or rewritten "
                    f"({round(matcher.ratio() * 100)}% of the text is unchanged)."]
    if sections:
        lines.append("Changed sections: " + "; ".join(sections[:8]) + ("; ..." if len(sections) > 8 else "") + ".")
    return lines


def _section_of(lines: list[str], index: int) -> str | None:
    """The nearest heading-like line at or above `index` (short, no final full stop)."""
    for line in reversed(lines[: index + 1]):
        if find_effective(line):
            return None  # the date line itself: the first summary sentence covers it
        if len(line) <= 80 and not line.endswith((".", ":", ",")):
            return line
    return None


def show_current(settings: Settings) -> PolicyCheck:
    """`optout policy`: read the live page now and record it."""
    with Store.open(settings) as store:
        return asyncio.run(_check_with_browser_fallback(settings, store))


async def _check_with_browser_fallback(settings: Settings, store: Store) -> PolicyCheck:
    """Plain HTTP first; a browser is started only when that answer is not a readable policy."""
    try:
        return await check_policy(settings, store)
    except PolicyUnreadable:
        async with open_browser(settings) as browser:
            return await check_policy(settings, store, browser)


def latest_diff(settings: Settings) -> PolicyDiff | None:
    """`optout policy diff`: the last two versions seen, from the history database (no network)."""
    with Store.open(settings) as store:
        return diff(store)
