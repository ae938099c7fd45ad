"""Shared fixtures: one browser and one replica per test session (the replica reset per test), a private
optout home per test with its own keyring service name, and a runner for the `optout` command (in this
process by default, as a real subprocess where the process boundary is what a test is about).

The product's delays are settings; the session turns them down here (no verify delay, a short slow-down
after a rate limit, short reload back-offs, a short replica draw delay). A test about one of them sets it
back."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import psutil
import pytest
from playwright.sync_api import sync_playwright

from optout.browser import LAUNCH_ARGS, find_browser
from optout.config import load_settings
from replica_fixtures import (  # noqa: F401  the replica-driving fixtures, for every test module
    fake_x,
    logged_in,
    replica_browser,
    replica_context,
    replica_page,
    replica_server,
)
from local_server import inbox  # noqa: F401  the webhook fixture, for test_notify and test_recheck
from worker_keyring import ensure_keyring_running, private_keyring

ROOT = Path(__file__).resolve().parents[1]


_worker_keyring = contextlib.ExitStack()


def pytest_configure(config):
    """Each xdist worker talks to a keyring of its own (tests/worker_keyring.py), so that any worker can
    run any test. SIGINT reaches every `optout` a test starts: a shell without job control that starts
    the suite in the background (`scripts/test &` in a script) leaves SIGINT ignored, every child inherits
    that, and the Ctrl-C tests would see a run that Ctrl-C cannot stop."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("OPTOUT_IN_PRIVATE_KEYRING"):
        _worker_keyring.enter_context(private_keyring())


def pytest_unconfigure(config):
    _worker_keyring.close()


@pytest.fixture(autouse=True)
def _keyring_up():
    """A test that killed a client of the keyring may have left gnome-keyring aborted: the next test
    starts with it up again (tests/worker_keyring.py)."""
    ensure_keyring_running()


@pytest.fixture(autouse=True)
def _no_database_left_open(monkeypatch):
    """Every SQLite connection opened in this process during a test is closed by its end. `with
    sqlite3.connect()` alone only commits: the connection stays open until a garbage collection, and the
    secret scan's reads of the database's files (this process) drop its POSIX locks; other processes then
    take the database for unused, and the late close writes an old WAL back over it ("database disk image
    is malformed", once in CI). Held here until the check, so a leak fails every time, not after a GC."""
    opened = []
    real_connect = sqlite3.connect

    def connect(*args, **kwargs):
        conn = real_connect(*args, **kwargs)
        opened.append((conn, args[0] if args else kwargs.get("database")))
        return conn

    monkeypatch.setattr(sqlite3, "connect", connect)
    yield
    left = [str(where) for conn, where in opened if _close_if_open(conn)]
    assert left == [], f"SQLite connections this test left open: {left}"


def _close_if_open(conn: sqlite3.Connection) -> bool:
    try:
        conn.total_changes  # noqa: B018  raises once the connection is closed
    except sqlite3.ProgrammingError:
        return False
    conn.close()
    return True


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (scripts/test): a worker per core and one more. A test waits part of its time (for its
    browser, its subprocesses, the replica's draw delay), and the spare worker fills some of that: on 2
    cores the suite took 272-287 s with three workers against 292-309 s with two, at the same hours
    (docs/benchmarks.md); four were slower again. xdist's own variable still decides when set."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    return (psutil.cpu_count(logical=False) or os.cpu_count() or 1) + 1


def pytest_collection_modifyitems(config, items):
    """The tests marked long start first (in pytest-randomly's order among themselves): one of them
    started last would keep one worker busy for a minute while the others sit idle."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture(scope="session")
def node_compile_cache(tmp_path_factory) -> str:
    """Node's compile cache for the tests' own Playwright drivers (optout's keep theirs in its cache dir):
    a warm start costs a quarter less CPU."""
    return str(tmp_path_factory.mktemp("node-compile-cache"))


@pytest.fixture(scope="module")
def playwright(node_compile_cache):
    """pytest-playwright's sync Playwright, for one module at a time instead of the whole session: while
    it runs, the main thread looks like it runs an event loop, which breaks every asyncio test after it
    (in whatever order the tests run, across xdist workers too)."""
    with mock.patch.dict(os.environ, {"NODE_COMPILE_CACHE": node_compile_cache}):  # read when the driver starts
        pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def browser_context_args(playwright, device, base_url):
    return {**(playwright.devices[device] if device else {}), **({"base_url": base_url} if base_url else {})}


@pytest.fixture(scope="module")
def browser(replica_browser):  # noqa: F811  the fixture, not the import
    """pytest-playwright's browser is the session's shared one too (tests/replica_fixtures.py)."""
    return replica_browser


# The test session's settings, in os.environ so every load_settings() and every `optout` sees them.
FAST_SETTINGS = {
    "OPTOUT_VERIFY_DELAY_S": "0",  # test_runner's quiet-revert test sets the real delay back
    "OPTOUT_RATE_LIMIT_SLOW_PACE_S": "0.1",
    "OPTOUT_RELOAD_BACKOFF_S": "0.05",
}
TEST_SETTLE_MS = (10, 40)  # the replica's draw delay for tests (X's own: 150-400 ms, the replica's default)
# What Playwright itself passes when it launches Chromium headless (its chromiumSwitches, read off a
# launch by optout's factory), so the shared browser behaves like the one optout launches.
_PLAYWRIGHT_ARGS = [
    "--disable-field-trial-config", "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows", "--disable-back-forward-cache", "--disable-breakpad",
    "--disable-component-extensions-with-background-pages", "--disable-default-apps", "--disable-dev-shm-usage",
    "--disable-extensions", "--allow-pre-commit-input", "--disable-hang-monitor", "--disable-ipc-flooding-protection",
    "--disable-popup-blocking", "--disable-prompt-on-repost", "--disable-renderer-backgrounding",
    "--force-color-profile=srgb", "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
    "--no-service-autorun", "--disable-search-engine-choice-screen", "--enable-unsafe-swiftshader",
    "--headless", "--hide-scrollbars", "--mute-audio", "--noerrdialogs",
    "--blink-settings=primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4",
]


def _launch_shared_browser(profile: str) -> tuple[subprocess.Popen, str]:
    """The browser optout's factory finds, with optout's launch arguments, reachable over CDP: every
    command and test of the session connects to it (config browser_endpoint) instead of launching one."""
    binary = find_browser(load_settings())
    args = [str(binary.path), *_PLAYWRIGHT_ARGS, *LAUNCH_ARGS, "--remote-debugging-port=0",
            f"--user-data-dir={profile}", *(["--no-sandbox"] if os.geteuid() == 0 else []), "about:blank"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_die_with_parent)
    for line in proc.stderr:  # Chromium names its DevTools port on stderr once it listens
        found = re.search(r"DevTools listening on ws://([^/]+)/", line)
        if found:
            proc.stderr.close()
            return proc, f"http://{found.group(1)}"
    proc.kill()
    raise RuntimeError("the shared test browser did not start")


_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the browser's process before it starts: its own session keeps it apart from the test's process
    group, so a kill of this worker that skips the teardown (kill -9, a CI timeout) would leave it running;
    the kernel sends it SIGKILL when this worker dies (Linux prctl PR_SET_PDEATHSIG), and its helper
    processes follow it. (prctl is looked up before the fork: the child only makes the call.)"""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


@pytest.fixture(scope="session", autouse=True)
def shared_browser():
    """One Chromium for the whole session (the slow part of every end-to-end test was its own launch)."""
    with tempfile.TemporaryDirectory(prefix="optout-test-browser-", ignore_cleanup_errors=True) as profile:
        proc, endpoint = _launch_shared_browser(profile)
        try:
            with mock.patch.dict(os.environ, {**FAST_SETTINGS, "OPTOUT_BROWSER_ENDPOINT": endpoint}):
                yield endpoint
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # the browser and its helper processes (its own group)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture(autouse=True)
def _no_log_handler_outlives_its_test():
    """A command run in this process points the `optout` logger at its own state dir; the next test
    must not log into that one's folder."""
    yield
    logger = logging.getLogger("optout")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()


@pytest.fixture(scope="session")
def replica():
    from recordings.server import ReplicaServer

    server = ReplicaServer(settle_ms=TEST_SETTLE_MS).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_replica(replica):
    replica.admin.reset()
    return replica


# Read once per process (keyring caches its backend, Rich its width): a test that sets one needs a process.
READ_AT_START_UP = {"PYTHON_KEYRING_BACKEND", "DBUS_SESSION_BUS_ADDRESS", "COLUMNS"}


@dataclass
class Completed:
    """What one `optout` command left: the same fields as subprocess.CompletedProcess."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str


def run_in_process(args: list[str], *, input: str | None, env: dict, cwd: Path) -> Completed:
    """`optout ARGS` through the real entry point (optout.entry.main) in this process, with its own
    stdin/stdout/stderr, environment and working folder: what a user sees, without a Python start-up.
    An unexpected exception ends it as in a real process: traceback on stderr, exit code 1."""
    from click.testing import CliRunner

    from optout import entry

    delta = {k: v for k, v in env.items() if os.environ.get(k) != v}
    delta.update({k: None for k in os.environ if k not in env})
    with CliRunner().isolation(input=input, env=delta) as (out, err, _), contextlib.chdir(cwd), \
            mock.patch.object(sys, "argv", ["optout", *args]):
        try:
            entry.main()
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
            if isinstance(done.code, str):
                print(done.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001  a crash, reported as the interpreter would
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        return Completed(["optout", *args], code, out.getvalue().decode(), err.getvalue().decode())


@dataclass
class OptoutEnv:
    """One user's world: private data/state/config dirs and keyring service, pointed at the replica."""

    home: Path
    base_url: str
    env: dict = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, input: str | None = None, timeout: float = 180, extra_env: dict | None = None,
            process: bool = False):
        """Run `optout ARGS` as a user would; stdout and stderr are kept for the secret scans.
        In this process unless `process`: a real `python -m optout`, for what only a process shows
        (its exit status, a keyring backend chosen at start-up, the terminal width)."""
        env = {**self.env, **(extra_env or {})}
        if process or set(extra_env or ()) & READ_AT_START_UP:
            proc = subprocess.run([sys.executable, "-m", "optout", *args], input=input, capture_output=True,
                                  text=True, timeout=timeout, env=env, cwd=self.home)
        else:
            proc = run_in_process(list(args), input=input, env=env, cwd=self.home)
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def written_files(self) -> list[Path]:
        return [p for p in self.home.rglob("*") if p.is_file()]


@pytest.fixture
def optout_env(tmp_path, fresh_replica) -> OptoutEnv:
    home = tmp_path / "home"
    for sub in ("data", "state", "config"):
        (home / sub).mkdir(parents=True)
    env = {
        **os.environ,
        "OPTOUT_BASE_URL": fresh_replica.base_url,
        "OPTOUT_DATA_DIR": str(home / "data"),
        "OPTOUT_STATE_DIR": str(home / "state"),
        "OPTOUT_CONFIG_DIR": str(home / "config"),
        "OPTOUT_CONFIG_FILE": str(home / "config" / "config.toml"),
        "OPTOUT_KEYRING_SERVICE": f"optout-test-{uuid.uuid4().hex[:8]}",
        "OPTOUT_TYPING_DELAY_MS": "0",
        "OPTOUT_PAUSE_MIN_MS": "0",
        "OPTOUT_PAUSE_MAX_MS": "0",
        "PYTHONPATH": str(ROOT),
    }
    return OptoutEnv(home=home, base_url=fresh_replica.base_url, env=env)
