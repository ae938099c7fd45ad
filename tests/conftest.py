"""Shared fixtures: the replica (one per session, reset per test), a private optout home per test with
its own keyring service name, and a runner for the real `optout` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

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

ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """pytest-playwright's sync browser lives for the rest of the session once started, and while it
    lives the main thread looks like it runs an event loop, which breaks every asyncio test after it.
    So the tests that use it run last (after pytest-playwright's own reordering)."""
    items.sort(key=lambda item: "playwright" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's own browser: the one our factory finds (system Chromium here)."""
    binary = find_browser(load_settings())
    args = list(LAUNCH_ARGS) + (["--no-sandbox"] if os.geteuid() == 0 else [])
    return {**browser_type_launch_args, "executable_path": str(binary.path) if binary.path else None, "args": args}


@pytest.fixture(scope="session")
def replica():
    from recordings.server import ReplicaServer

    server = ReplicaServer().start()
    yield server
    server.stop()


@pytest.fixture
def fresh_replica(replica):
    replica.admin.reset()
    return replica


@dataclass
class OptoutEnv:
    """One user's world: private data/state/config dirs and keyring service, pointed at the replica."""

    home: Path
    base_url: str
    env: dict = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)

    def run(self, *args: str, input: str | None = None, timeout: float = 180, extra_env: dict | None = None):
        """Run `optout ARGS` as a user would; stdout and stderr are kept for the secret scans."""
        proc = subprocess.run(
            [sys.executable, "-m", "optout", *args],
            input=input, capture_output=True, text=True, timeout=timeout,
            env={**self.env, **(extra_env or {})}, cwd=self.home,
        )
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
