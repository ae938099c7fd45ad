"""The one browser factory: find a Chromium, launch it (or connect to a remote one), and hand out one
fresh, isolated context per account. Everything that starts a browser goes through here."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from optout.config import Settings
from optout.errors import BrowserNotFound, EnvironmentProblem, first_line
from optout.files import make_private_dir
from optout.redact import scrub, shown_url

log = logging.getLogger(__name__)
T = TypeVar("T")

SYSTEM_BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SYSTEM_BROWSER_PATHS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files (x86)\Google\Chrome\Application\chrome.exe",
    r"C:\Program Files\Chromium\Application\chrome.exe",
)
# Chromium keeps only the last --disable-features it is given, and Playwright passes its own list first
# (these, as of Playwright 1.65), so optout's one switch repeats them before adding its own.
PLAYWRIGHT_DISABLED_FEATURES = (
    "AvoidUnnecessaryBeforeUnloadCheckSync", "DestroyProfileOnBrowserClose", "HttpsUpgrades",
    "HttpsFirstBalancedModeAutoEnable", "LensOverlay", "MediaRouter", "PaintHolding", "ThirdPartyStoragePartitioning",
    "AvoidCorsURLLoaderRestartOnRedirect", "TcpPortRandomizationWin", "OptimizationHints",
    "NetworkTimeServiceQuerying", "AimEnabled", "PreconnectToSearch", "msForceBrowserSignIn",
    "msEdgeUpdateLaunchServicesPreferredVersion",
)
# Browser chrome no page can see. Chromium 15x builds its address-bar popup (a WebUI page of some 400
# script modules) in every new window, and in headless mode every context is a window: that was about
# 0.6-0.9 CPU-seconds per account. Autofill asks Google about every form it sees, through the account's
# proxy too.
OPTOUT_DISABLED_FEATURES = ("PreloadTopChromeWebUI", "WebUIOmniboxPopup", "WebUIOmniboxAimPopup",
                            "AutofillServerCommunication")
# A closed network makes Chromium's own background traffic fail noisily; none of it is needed. The
# AutomationControlled one keeps Blink from announcing automation (navigator.webdriver), which X refuses
# logins for.
LAUNCH_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-blink-features=AutomationControlled",
    "--disable-features=" + ",".join(PLAYWRIGHT_DISABLED_FEATURES + OPTOUT_DISABLED_FEATURES),
]
# Playwright's own switch that tells pages the browser is automated (and shows Chrome's infobar).
IGNORED_DEFAULT_ARGS = ["--enable-automation"]
# What optout asks a Playwright server to launch. The "chromium" channel is the full build in headless
# mode, as optout launches it here: without it the server launches its headless shell (see
# PLAYWRIGHT_CHROMIUM_NAMES). A server honours the channel even without --unsafe; the switches need --unsafe.
REMOTE_LAUNCH_OPTIONS = json.dumps(
    {"channel": "chromium", "args": LAUNCH_ARGS, "ignoreDefaultArgs": IGNORED_DEFAULT_ARGS})

NO_BROWSER_HELP = (
    "Install one of: Debian/Ubuntu `sudo apt-get install chromium`; Fedora `sudo dnf install chromium`; "
    "macOS `brew install --cask chromium` or Google Chrome; Windows Google Chrome; or, where downloads "
    "work, `playwright install chromium`. Or point OPTOUT_BROWSER (config browser_path) at a Chromium "
    "or Chrome executable."
)


@dataclass(frozen=True)
class BrowserBinary:
    path: Path | None  # None: Playwright's own build, found by Playwright itself
    source: str  # "configured", "playwright" or "system"


# The executables of Playwright's full Chromium build (chromium-<revision>/chrome-linux64/chrome and its
# macOS and Windows twins). Playwright's folder also holds chromium_headless_shell-<revision>, its default
# for headless launches: that shell names itself "HeadlessChrome" in every request's client hints
# (Sec-CH-UA), which no context option corrects and which X refuses logins for, so optout never runs it.
PLAYWRIGHT_CHROMIUM_NAMES = ("chrome", "chrome.exe", "Chromium", "Google Chrome for Testing")


HEADLESS_SHELL_WARNING = ("{path} is a headless shell, not a full Chromium: it says HeadlessChrome in every request's "
                          "client hints, and X refuses logins from it. Point OPTOUT_BROWSER (config browser_path) at "
                          "the full Chromium or Chrome, or unset it.")


def is_headless_shell(path: Path | None) -> bool:
    """Chromium's headless shell, by the names it ships under (Debian's chromium-headless-shell,
    Playwright's chrome-headless-shell and older headless_shell); no full Chrome is named so."""
    return path is not None and "headless" in path.name.lower()


def _playwright_chromium() -> Path | None:
    """Playwright's downloaded full Chromium, when `playwright install chromium` has been run: the
    revision this Playwright was made for, else the newest (a shared folder may hold several)."""
    root = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or _default_playwright_cache())
    if not root.is_dir():
        return None
    revisions = [int(d.name.removeprefix("chromium-")) for d in root.glob("chromium-*")
                 if d.name.removeprefix("chromium-").isdigit()]
    expected = _expected_chromium_revision()
    for revision in sorted(revisions, key=lambda r: (r == expected, r), reverse=True):
        for found in sorted((root / f"chromium-{revision}").rglob("*")):
            if found.name in PLAYWRIGHT_CHROMIUM_NAMES and found.is_file() and os.access(found, os.X_OK):
                return found
    return None


def _expected_chromium_revision() -> int | None:
    """The Chromium revision the installed Playwright downloads (its driver's browsers.json)."""
    import playwright

    try:
        listed = json.loads((Path(playwright.__file__).parent / "driver" / "package" / "browsers.json").read_text())
        return int(next(b["revision"] for b in listed["browsers"] if b["name"] == "chromium"))
    except (OSError, ValueError, KeyError, TypeError, StopIteration):
        return None


def _default_playwright_cache() -> Path:
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "ms-playwright"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "ms-playwright"
    return Path.home() / ".cache" / "ms-playwright"


def _system_browser() -> Path | None:
    for name in SYSTEM_BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    for path in SYSTEM_BROWSER_PATHS:
        if Path(path).is_file():
            return Path(path)
    return None


def find_browser(settings: Settings) -> BrowserBinary:
    """Configured path first, then Playwright's own Chromium, then a system Chromium or Chrome."""
    if settings.browser_path is not None:
        if not (settings.browser_path.is_file() and os.access(settings.browser_path, os.X_OK)):
            raise BrowserNotFound(
                f"The configured browser {settings.browser_path} does not exist or is not executable.",
                hint=NO_BROWSER_HELP,
            )
        return BrowserBinary(settings.browser_path, "configured")
    own = _playwright_chromium()
    if own is not None:
        return BrowserBinary(own, "playwright")
    system = _system_browser()
    if system is not None:
        return BrowserBinary(system, "system")
    raise BrowserNotFound("No Chromium or Chrome browser was found on this machine.", hint=NO_BROWSER_HELP)


class BrowserSession:
    """One running (or connected) browser; `new_context()` gives each account a clean profile."""

    def __init__(self, settings: Settings, playwright: Playwright, browser: Browser, binary: BrowserBinary | None,
                 user_agent: str | None = None):
        self.settings = settings
        self.playwright = playwright
        self.browser = browser
        self.binary = binary
        self.user_agent = user_agent  # the browser's own user agent, minus "Headless"; None: leave it

    @property
    def version(self) -> str:
        return self.browser.version

    async def lost(self) -> bool:
        """Whether the browser died (or the connection to it): a call it broke fails a moment before
        Playwright hears of the disconnection, so this gives that moment before it answers no."""
        for _ in range(10):
            if not self.browser.is_connected():
                return True
            await asyncio.sleep(0.05)
        return False

    async def new_context(self, *, viewport_width: int | None = None, proxy: dict | None = None) -> BrowserContext:
        """`proxy`: Playwright's proxy option for this account (optout.proxy), if it has one."""
        s = self.settings
        context = await self.browser.new_context(
            proxy=proxy,
            locale=s.locale,
            viewport={"width": viewport_width or s.viewport_width, "height": s.viewport_height},
            service_workers="block",
            user_agent=self.user_agent,
        )
        context.set_default_timeout(s.timeout_ms)
        context.set_default_navigation_timeout(s.navigation_timeout_ms)
        return context

    async def page_in_new_window(self, context: BrowserContext, first: Page) -> Page:
        """Another page of `first`'s context, in a window of its own, not a tab beside it. Chromium draws
        only a window's front tab, and Playwright's clicks wait for a drawn frame: with two tabs in one
        window, each click on the hidden one stalled about 2 s (measured). A window of its own is what a
        person gets from "open in new window"; Playwright has no call for it, so it goes through CDP."""
        page_cdp = await context.new_cdp_session(first)
        try:
            target = (await page_cdp.send("Target.getTargetInfo"))["targetInfo"]
        finally:
            await page_cdp.detach()
        browser_cdp = await self.browser.new_browser_cdp_session()
        try:
            async with context.expect_page() as opened:
                await browser_cdp.send("Target.createTarget", {
                    "url": "about:blank", "newWindow": True, "browserContextId": target["browserContextId"]})
        finally:
            await browser_cdp.detach()
        return await opened.value

    @asynccontextmanager
    async def account_context(self, *, proxy: dict | None = None) -> AsyncIterator[BrowserContext]:
        """The context one account works in: a fresh one, closed afterwards; or, with
        `use_browser_session`, the user's own logged-in context of the browser at `browser_endpoint`, where
        only the tabs optout opened are closed afterwards (the user's tabs and cookies are left alone)."""
        if not self.settings.use_browser_session:
            context = await self.new_context(proxy=proxy)
            try:
                yield context
            finally:
                await context.close()
            return
        if not self.browser.contexts:
            raise EnvironmentProblem(f"The browser at {shown_url(self.settings.browser_endpoint)} has no window open.",
                                     hint="Open a window in it, logged in to X, and run again.")
        context = self.browser.contexts[0]
        before = set(context.pages)
        try:
            yield context
        finally:
            for page in [p for p in context.pages if p not in before]:
                await page.close()


async def _launch(settings: Settings, pw: Playwright) -> tuple[Browser, BrowserBinary | None]:
    if settings.browser_endpoint:
        return await _connect(settings.browser_endpoint, pw), None
    binary = find_browser(settings)
    if is_headless_shell(binary.path):
        _warn(HEADLESS_SHELL_WARNING.format(path=binary.path))
    args = list(LAUNCH_ARGS)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # Chromium refuses to start as root with its sandbox on
    try:
        browser = await pw.chromium.launch(
            executable_path=str(binary.path) if binary.path else None,
            headless=settings.headless,
            args=args,
            ignore_default_args=IGNORED_DEFAULT_ARGS,
        )
    except PlaywrightError as exc:
        raise EnvironmentProblem(
            f"The browser at {binary.path or 'Playwright'} ({binary.source}) could not be started: "
            f"{first_line(exc)}",
            hint="Headed mode needs a display (set DISPLAY or run under xvfb-run). " + NO_BROWSER_HELP,
        ) from None
    return browser, binary


def cleartext_warning(endpoint: str) -> str | None:
    """Why a remote browser endpoint is risky, or None: over plain ws:// or http:// to another host, every
    password, code and session cookie the run types or sets crosses the network unencrypted."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("ws", "http") or host == "localhost" or host.endswith(".localhost"):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: another machine, as far as we can tell
    return (f"the remote browser {shown_url(endpoint)} is on another host over plain {parts.scheme}://: "
            "passwords, codes and session cookies would cross the network in the clear. Use "
            f"{parts.scheme}s:// (TLS), an SSH tunnel to localhost, or a browser on this machine.")


async def _connect(endpoint: str, pw: Playwright) -> Browser:
    warning = cleartext_warning(endpoint)
    if warning:
        _warn(warning)
    try:
        if endpoint.startswith(("ws://", "wss://")):
            # A Playwright server launches the browser for us: ask it for the same honest launch as ours.
            return await pw.chromium.connect(endpoint, headers={"x-playwright-launch-options": REMOTE_LAUNCH_OPTIONS})
        return await pw.chromium.connect_over_cdp(endpoint)
    except PlaywrightError as exc:
        raise EnvironmentProblem(
            f"Could not connect to the remote browser at {shown_url(endpoint)}: {scrub(first_line(exc), endpoint)}",
            hint="Start one with `playwright run-server --port N` (then use ws://host:N/; optout asks it for its "
            "full Chromium, so run `playwright install chromium` there, not --only-shell) or Chrome with "
            "--remote-debugging-port=N (then use http://host:N).",
        ) from None


async def _warn_if_announcing(browser: Browser, endpoint: str) -> None:
    """A Playwright server launches its browser itself and, unless started with --unsafe, ignores the
    launch arguments optout asks for: its browser then announces automation, which X refuses logins
    from. Say so once; saved sessions may still work."""
    context = await browser.new_context()
    try:
        announcing = await (await context.new_page()).evaluate("navigator.webdriver === true")
    except PlaywrightError:
        return
    finally:
        await context.close()
    if announcing:
        _warn(f"The Playwright server at {shown_url(endpoint)} launched a browser that announces automation "
              "(navigator.webdriver); X refuses logins from such a browser. Start the server with "
              "`playwright run-server --unsafe` so it accepts optout's launch arguments, or use a Chrome "
              "DevTools endpoint (http://) started with optout's arguments.")


def _warn(warning: str) -> None:
    """A browser that works but puts the run at risk: in the log, and said to the person now."""
    log.warning("%s", warning)
    print(f"Warning: {warning}", file=sys.stderr)


def honest_user_agent(user_agent: str) -> str | None:
    """The user agent a headless Chromium should present: its own, without the "Headless" that only
    headless mode adds (the rest, version and platform included, is the truth). None when there is
    nothing to correct, so a headed or remote browser keeps exactly what it says."""
    if "HeadlessChrome/" not in user_agent:
        return None
    return user_agent.replace("HeadlessChrome/", "Chrome/")


async def _own_user_agent(browser: Browser) -> str | None:
    """The browser's user agent as it would send it, read over CDP before any page exists."""
    try:
        cdp = await browser.new_browser_cdp_session()
        try:
            return (await cdp.send("Browser.getVersion")).get("userAgent")
        finally:
            await cdp.detach()
    except PlaywrightError:
        log.warning("could not read the browser's user agent; pages will see the browser's default")
        return None


@asynccontextmanager
async def open_browser(settings: Settings) -> AsyncIterator[BrowserSession]:
    pw = await _start_driver(settings)
    try:
        browser, binary = await _launch(settings, pw)
        try:
            user_agent = honest_user_agent(await _own_user_agent(browser) or "")
            if (settings.browser_endpoint or "").startswith(("ws://", "wss://")):
                await _warn_if_announcing(browser, settings.browser_endpoint)
            yield BrowserSession(settings, pw, browser, binary, user_agent)
        finally:
            await browser.close()
    finally:
        await pw.stop()


async def _start_driver(settings: Settings) -> Playwright:
    """Playwright's driver, started to the end even when the command is cancelled meanwhile (an error or
    Ctrl-C while the browser starts early): a start cancelled half-way can leave its Node process running
    (seen in tests/test_foundation.py). Starting is local and takes a fraction of a second; a driver
    started for a cancelled command is stopped at once."""
    with _node_compile_cache(settings):
        start = asyncio.ensure_future(async_playwright().start())
        try:
            return await asyncio.shield(start)
        except asyncio.CancelledError:
            await asyncio.wait([start])
            if not start.cancelled() and start.exception() is None:
                await start.result().stop()
            raise


class StartingBrowser:
    """`open_browser`, begun before it is needed: Playwright's driver and Chromium start in processes of
    their own (about 0.35 s) while the command loads and prepares the rest. `session()` waits for them;
    `close()` closes what was started, used or not."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._opening = open_browser(settings)
        self._entering = asyncio.ensure_future(self._opening.__aenter__())

    async def session(self) -> BrowserSession:
        # Shielded: a waiter cancelled by Ctrl-C leaves the start to close(), which ends it either way.
        return await asyncio.shield(self._entering)

    async def close(self, *, abandon: bool) -> None:
        """`abandon`: the command is failing or stopping (an error, Ctrl-C, SIGTERM). A start still under way
        is cancelled then, not waited for (a launch times out after minutes, a remote connect never), and a
        browser that fails to close is logged, not raised over the command's own error."""
        if abandon:
            self._entering.cancel()
        await asyncio.wait([self._entering])
        if self._entering.cancelled() or self._entering.exception() is not None:
            return  # nothing was opened; whoever needed the browser got the error
        try:
            await self._opening.__aexit__(None, None, None)
        except Exception as exc:
            if not abandon:
                raise
            log.warning("the browser started for this command did not close: %s",
                        scrub(first_line(exc), self.settings.browser_endpoint))


@asynccontextmanager
async def browser_starting(settings: Settings) -> AsyncIterator[StartingBrowser]:
    starting = StartingBrowser(settings)
    try:
        yield starting
    except BaseException:
        await starting.close(abandon=True)
        raise
    await starting.close(abandon=False)


def run_while_browser_starts(settings: Settings,
                             load_work: Callable[[], Callable[[StartingBrowser], Awaitable[T]]]) -> T:
    """asyncio.run of the work `load_work()` returns, with the browser already starting. `load_work` runs in
    a thread so that the modules it imports load while the driver and Chromium start: a one-account
    `optout check` took 0.05-0.1 s less (docs/benchmarks.md; on 2 cores the driver, Chromium and the
    imports compete for the CPU). Prompts belong before this call."""
    async def main() -> T:
        async with browser_starting(settings) as starting:
            work = await asyncio.to_thread(load_work)
            return await work(starting)

    with _node_compile_cache(settings):  # set before the thread starts: setenv races a getenv in C code
        return asyncio.run(main())


@contextmanager
def _node_compile_cache(settings: Settings) -> Iterator[None]:
    """NODE_COMPILE_CACHE while Playwright starts its driver: Node (22 and later) keeps the driver's
    compiled code there, and every command that opens a browser starts the driver; warm, a start takes
    ~70 ms and a quarter of its CPU less (measured). A private folder, since compiled code the driver
    runs must be writable by nobody else. A cache that cannot be made only costs that time. (`run` and
    `check` set it for their whole command, before their import thread starts: see
    run_while_browser_starts. A nested call then leaves it be.)"""
    if "NODE_COMPILE_CACHE" in os.environ:  # the user's own choice, or an outer call's
        yield
        return
    try:
        folder = make_private_dir(settings.cache_dir / "node-compile-cache")
    except OSError:
        yield
        return
    os.environ["NODE_COMPILE_CACHE"] = str(folder)
    try:
        yield
    finally:
        os.environ.pop("NODE_COMPILE_CACHE", None)
