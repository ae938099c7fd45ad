"""The foundation: configuration sources, the browser factory's search order and failures, the version,
and that tests really run on the Secret Service keyring."""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from optout import __version__
from optout import browser as browser_mod
from optout.browser import BrowserNotFound, browser_starting, find_browser, open_browser
from optout.config import load_settings
from optout.errors import BadInput, ExitCode
from waiting import wait_until


def test_version_flag():
    """Alone, --version answers before the command line loads (optout.entry, the console script's and
    `python -m optout`'s entry point); anywhere else in the arguments it is Typer's. Both say the same."""
    python_m = [sys.executable, "-X", "importtime", "-m", "optout"]
    alone = subprocess.run([*python_m, "--version"], capture_output=True, text=True, check=False)
    among = subprocess.run([*python_m, "--headed", "--version"], capture_output=True, text=True, check=False)
    assert alone.returncode == among.returncode == 0
    assert alone.stdout == among.stdout == f"optout {__version__}\n"
    loaded = _imported(alone.stderr)
    assert "optout.entry" in loaded and not loaded & {"typer", "optout.cli", "pydantic", "rich"}, sorted(loaded)
    assert "optout.cli" in _imported(among.stderr)
    misplaced = subprocess.run([sys.executable, "-m", "optout", "run", "--version"], capture_output=True, text=True,
                               check=False)
    assert misplaced.returncode == 2 and "No such option" in misplaced.stderr  # a command's option: Typer's error
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="optout")
    assert script.value == "optout.entry:main"


def _imported(importtime_report: str) -> set[str]:
    """The modules a `python -X importtime` process imported, from its report on stderr."""
    return {line.rsplit("|", 1)[-1].strip() for line in importtime_report.splitlines()}


def test_settings_sources_strongest_first(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('base_url = "http://from-toml.test"\ntimeout_ms = 1234\n')
    monkeypatch.setenv("OPTOUT_CONFIG_FILE", str(config))
    monkeypatch.delenv("OPTOUT_BASE_URL", raising=False)
    monkeypatch.delenv("OPTOUT_TIMEOUT_MS", raising=False)
    assert load_settings().base_url == "http://from-toml.test"
    assert load_settings().timeout_ms == 1234
    monkeypatch.setenv("OPTOUT_BASE_URL", "http://from-env.test/")
    assert load_settings().base_url == "http://from-env.test"
    assert load_settings(base_url="http://from-cli.test").base_url == "http://from-cli.test"


def test_default_base_url_is_real_x(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTOUT_CONFIG_FILE", str(tmp_path / "none.toml"))
    monkeypatch.delenv("OPTOUT_BASE_URL", raising=False)
    settings = load_settings()
    assert settings.base_url == "https://x.com"
    assert settings.url("/en/privacy") == "https://x.com/en/privacy"


def test_bad_config_is_bad_input(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('timeout_ms = "soon"\n')
    monkeypatch.setenv("OPTOUT_CONFIG_FILE", str(config))
    with pytest.raises(BadInput) as info:
        load_settings()
    assert "timeout_ms" in str(info.value)
    assert info.value.exit_code == ExitCode.BAD_INPUT


def test_configured_browser_wins(tmp_path, monkeypatch):
    fake = tmp_path / "my-chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OPTOUT_BROWSER", str(fake))
    found = find_browser(load_settings())
    assert (found.path, found.source) == (fake, "configured")


def test_configured_browser_missing_is_environment_error(monkeypatch):
    monkeypatch.setenv("OPTOUT_BROWSER", "/nonexistent/chrome")
    with pytest.raises(BrowserNotFound) as info:
        find_browser(load_settings())
    assert info.value.exit_code == ExitCode.ENVIRONMENT
    assert "apt-get install chromium" in str(info.value)


def _executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_playwright_chromium_preferred_over_system(tmp_path, monkeypatch):
    exe = _executable(tmp_path / "chromium-1234" / "chrome-linux" / "chrome")
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    monkeypatch.delenv("OPTOUT_BROWSER", raising=False)
    found = find_browser(load_settings())
    assert (found.path, found.source) == (exe, "playwright")


def test_playwright_headless_shell_is_never_chosen(tmp_path, monkeypatch):
    """`playwright install chromium` puts its headless shell beside the full build; the shell's client
    hints say HeadlessChrome, which X refuses logins for. Of the full builds, the revision the installed
    Playwright was made for, else the newest."""
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    monkeypatch.delenv("OPTOUT_BROWSER", raising=False)
    expected = browser_mod._expected_chromium_revision()
    assert expected is not None  # read from the installed Playwright's browsers.json
    _executable(tmp_path / "chromium_headless_shell-9999" / "chrome-linux" / "headless_shell")  # before 1.57
    _executable(tmp_path / "chromium_headless_shell-9999" / "chrome-headless-shell-linux64" / "chrome-headless-shell")
    system = find_browser(load_settings())
    assert system.source == "system" and "headless" not in str(system.path)  # only a shell: not Playwright's
    _executable(tmp_path / "chromium-999" / "chrome-linux" / "chrome")
    newest = _executable(tmp_path / f"chromium-{expected + 100}" / "chrome-linux64" / "chrome")
    assert find_browser(load_settings()).path == newest  # 999 < newest, though "chromium-999" sorts after
    made_for = _executable(tmp_path / f"chromium-{expected}" / "chrome-linux64" / "chrome")
    found = find_browser(load_settings())
    assert (found.path, found.source) == (made_for, "playwright")


def test_no_browser_anywhere(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("OPTOUT_BROWSER", raising=False)
    monkeypatch.setattr(browser_mod, "SYSTEM_BROWSER_PATHS", ())
    with pytest.raises(BrowserNotFound) as info:
        find_browser(load_settings())
    message = str(info.value)
    assert "No Chromium or Chrome" in message and "playwright install chromium" in message


def test_system_chromium_found_here():
    found = find_browser(load_settings())
    assert found.path is not None and found.path.exists()


async def test_one_browser_isolated_contexts(fresh_replica):
    """Two contexts of one browser share no cookies: one account's session never leaks to another."""
    settings = load_settings(base_url=fresh_replica.base_url)
    async with open_browser(settings) as session:
        assert session.version
        first, second = await session.new_context(), await session.new_context()
        await first.add_cookies([{"name": "probe", "value": "1", "url": settings.base_url}])
        assert await second.cookies() == []
        page = await second.new_page()
        response = await page.goto(settings.url("/en/privacy"))
        assert response.ok
        await first.close()
        await second.close()


async def test_an_accounts_second_page_opens_in_a_window_of_its_own(fresh_replica):
    """Chromium draws only a window's front tab, and a click waits for a drawn frame: the pages an
    account works on at once each get a window (page_in_new_window), in the account's own context."""
    settings = load_settings(base_url=fresh_replica.base_url)
    async with open_browser(settings) as session:
        async with session.account_context() as context:
            first = await context.new_page()
            await context.add_cookies([{"name": "probe", "value": "1", "url": settings.base_url}])
            second = await session.page_in_new_window(context, first)
            assert second.context is context and second is not first
            assert await second.context.cookies() == await context.cookies()
            cdp = await session.browser.new_browser_cdp_session()
            windows = set()
            for page in (first, second):
                target = (await (await context.new_cdp_session(page)).send("Target.getTargetInfo"))["targetInfo"]
                windows.add((await cdp.send("Browser.getWindowForTarget", {"targetId": target["targetId"]}))["windowId"])
                await page.goto(settings.url("/en/privacy"))
            assert len(windows) == 2
            for page in (first, second):  # each draws frames, neither is a hidden tab behind the other
                drawn = page.evaluate("new Promise(done => requestAnimationFrame(() => done(true)))")
                assert await asyncio.wait_for(drawn, timeout=5)


@pytest.mark.parametrize("fails", ["while it starts", "once it runs"])
async def test_a_browser_started_ahead_of_need_is_closed_when_the_command_fails(fresh_replica, monkeypatch, fails):
    """browser_starting: the command's own error comes out (not one of the browser's), and the driver and
    browser it started are gone afterwards, whether the error came while they started or after."""
    monkeypatch.delenv("OPTOUT_BROWSER_ENDPOINT")  # a browser launched here: its processes are this one's
    settings = load_settings(base_url=fresh_replica.base_url)
    before = _started_here()
    with pytest.raises(BadInput):
        async with browser_starting(settings) as starting:
            if fails == "while it starts":  # the driver's process is up, the browser not yet asked for
                deadline = time.monotonic() + 30
                while not _started_here() - before and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                assert _started_here() - before
            if fails == "once it runs":
                assert (await starting.session()).browser.is_connected()
                assert len(_started_here() - before) >= 2  # the driver, Chromium and its zygotes
            raise BadInput("the accounts file is malformed")
    wait_until(lambda: not _started_here() - before, "the started driver and browser to end", timeout=30)


def _started_here() -> set[int]:
    """Playwright drivers and the browsers they launched (by their temporary profile) below this process;
    not the shared browser, which may still be starting helpers of its own while a test runs."""
    found = set()
    for proc in psutil.Process().children(recursive=True):
        try:
            command = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "run-driver" in command or "playwright_chromiumdev_profile" in command:
            found.add(proc.pid)
    return found


async def test_a_browser_that_cannot_start_fails_where_it_is_needed(monkeypatch):
    monkeypatch.delenv("OPTOUT_BROWSER_ENDPOINT", raising=False)
    settings = load_settings(browser_path="/nonexistent/chrome")
    with pytest.raises(BrowserNotFound):
        async with browser_starting(settings) as starting:
            await starting.session()


async def test_playwrights_driver_keeps_its_compiled_code_in_a_private_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NODE_COMPILE_CACHE", raising=False)
    settings = load_settings(cache_dir=tmp_path / "cache")
    async with open_browser(settings):
        assert "NODE_COMPILE_CACHE" not in os.environ  # set only while the driver starts
    folder = tmp_path / "cache" / "node-compile-cache"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p for p in folder.rglob("*") if p.is_file()]  # the driver wrote its code cache there


def test_keyring_is_the_real_secret_service():
    """scripts/with-keyring gives the tests a real gnome-keyring over D-Bus, not a dict."""
    import keyring
    from keyring.backends import SecretService

    backend = keyring.get_keyring()
    assert isinstance(backend, SecretService.Keyring), backend
    assert os.environ.get("DBUS_SESSION_BUS_ADDRESS")
    keyring.set_password("optout-foundation-probe", "user", "probe-value")
    try:
        assert keyring.get_password("optout-foundation-probe", "user") == "probe-value"
    finally:
        keyring.delete_password("optout-foundation-probe", "user")


def test_a_worker_keyring_that_aborted_comes_back_with_its_entries():
    """gnome-keyring aborts when a client is killed mid-call (the kill tests do that): the worker's keyring
    is started again on its files, every entry still there, and a dead one fails at once, not after D-Bus
    activation's 120 s."""
    import keyring

    import worker_keyring

    own = worker_keyring._current  # noqa: SLF001
    if own is None:
        pytest.skip("runs in an xdist worker (scripts/test), which has a keyring of its own")
    keyring.set_password("optout-foundation-abort", "user", "kept-value")
    try:
        os.kill(own.daemon_pid(), signal.SIGABRT)
        # the bus drops the name once the daemon's socket closes
        wait_until(lambda: not own.running(), "gnome-keyring to die of SIGABRT", timeout=10, every=0.05)
        started = time.monotonic()
        with pytest.raises(Exception, match="not provided by any .service files"):
            keyring.get_password("optout-foundation-abort", "user")
        assert time.monotonic() - started < 5
        with pytest.warns(RuntimeWarning, match="restarted"):
            assert worker_keyring.ensure_keyring_running() is True
        assert worker_keyring.ensure_keyring_running() is False
        assert keyring.get_password("optout-foundation-abort", "user") == "kept-value"
    finally:
        worker_keyring.ensure_keyring_running()
        keyring.delete_password("optout-foundation-abort", "user")


def test_replica_is_not_part_of_the_package():
    """The wheel ships optout/ only; optout never imports the replica."""
    root = Path(__file__).resolve().parents[1]
    importing = re.compile(r"^\s*(from|import)\s+recordings\b", re.M)
    for source in (root / "optout").rglob("*.py"):
        assert not importing.search(source.read_text()), source


def test_state_history_and_logs_are_private(tmp_path):
    """History, logs and locks say which accounts a person or newsroom manages: owner-only folders."""
    from optout.lock import run_lock
    from optout.logs import configure_file_log
    from optout.store import Store

    settings = load_settings(state_dir=tmp_path / "a" / "state", data_dir=tmp_path / "data")
    configure_file_log(settings)
    with run_lock(settings, "test"), Store.open(settings):
        pass
    for folder in (tmp_path / "a", settings.state_dir, settings.log_dir):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


class _Browser:
    """A stand-in for Playwright's Browser that loses its connection `after` looks (None: never)."""

    def __init__(self, after: int | None) -> None:
        self.after, self.looks = after, 0

    def is_connected(self) -> bool:
        self.looks += 1
        return self.after is None or self.looks <= self.after


@pytest.mark.parametrize("after, lost", [(0, True), (3, True), (None, False)])
async def test_a_browser_whose_disconnection_is_heard_a_moment_late_counts_as_lost(after, lost):
    """A call the dying browser broke fails just before Playwright reports the disconnection: the account
    must not take the blame (the run stops and --resume does it), so `lost` waits that moment."""
    session = browser_mod.BrowserSession(load_settings(), None, _Browser(after), None)
    assert await session.lost() is lost
