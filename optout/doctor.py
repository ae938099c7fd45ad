"""`optout doctor`: is this machine ready? Each check says OK or what to do. The browser and the keyring
are required (exit 5 without them); directories and the base URL are reported so a person can see
where things go and whether X answers."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel

from optout import texts
from optout import keyring_trust
from optout.config import Settings
from optout.credentials import CredentialStore
from optout.errors import OptoutError
from optout.redact import shown_url
from optout.site import X_SITE, site_of

VERSION_TIMEOUT_S = 10
REACH_TIMEOUT_S = 5
LARGE_EVIDENCE_BYTES = 1_000_000_000  # above this, with no retention set, doctor suggests pruning


class Check(BaseModel):
    name: str
    ok: bool
    required: bool = True
    detail: str
    fix: str | None = None


class DoctorReport(BaseModel):
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)


def _browser_version(path: Path | None) -> str | None:
    """`chromium --version` prints one line without starting a browser window."""
    if path is None:
        return None
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def check_browser(settings: Settings) -> Check:
    from optout.browser import HEADLESS_SHELL_WARNING, find_browser, is_headless_shell

    if settings.browser_endpoint:
        from optout.browser import cleartext_warning

        warning = cleartext_warning(settings.browser_endpoint)
        detail = f"remote browser at {shown_url(settings.browser_endpoint)} (not contacted)"
        return Check(name="browser", ok=True, detail=detail + (f"; WARNING: {warning}" if warning else ""))
    try:
        binary = find_browser(settings)
    except OptoutError as exc:
        return Check(name="browser", ok=False, detail=exc.message, fix=exc.hint)
    version = _browser_version(binary.path) or "version unknown"
    where = binary.path or "Playwright's own Chromium"
    if is_headless_shell(binary.path):
        return Check(name="browser", ok=False, detail=f"{version} at {where} ({binary.source}) is a headless shell",
                     fix=HEADLESS_SHELL_WARNING.format(path=binary.path))
    return Check(name="browser", ok=True, detail=f"{version} at {where} ({binary.source})")


def check_keyring(settings: Settings) -> Check:
    """The backend keyring chose, whether it is an OS secret store (trusted), and that it works."""
    try:
        backend = CredentialStore(settings).check()
    except OptoutError as exc:
        return Check(name="keyring", ok=False, detail=exc.message, fix=exc.hint)
    import keyring

    trust = ("trusted (an operating-system secret store)" if keyring_trust.is_trusted(keyring.get_keyring())
             else f"NOT trusted, used because {keyring_trust.OPT_IN}=1")
    return Check(name="keyring", ok=True, detail=f"{backend}, {trust}: write, read and delete of a probe entry worked")


def check_site(settings: Settings) -> Check:
    """A run against anything but X (the replica, a leftover demo URL) is worth a warning: it uses only the
    secrets stored for that site, and its receipts say it was not X."""
    try:
        site = site_of(settings.base_url)
    except ValueError:
        return Check(name="site", ok=False, detail=f"base_url {settings.base_url!r} names no host",
                     fix="Leave base_url unset for X, or give a full address.")
    if site == X_SITE:
        return Check(name="site", ok=True, required=False, detail=f"{site} (X)")
    return Check(name="site", ok=False, required=False,
                 detail=f"runs go to {site}, which is not X (x.com); they use only the accounts stored for {site}, "
                 "and their receipts and the report are marked 'not X'",
                 fix="Unset OPTOUT_BASE_URL and base_url in config.toml unless you mean to use the replica or a demo.")


def _writable(path: Path) -> bool:
    """The directory exists and is writable, or the nearest existing parent is (it will be created)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


def check_dirs(settings: Settings) -> list[Check]:
    dirs = {"data dir": settings.data_dir, "state dir": settings.state_dir, "config dir": settings.config_dir,
            "evidence dir": settings.evidence_root}
    return [
        Check(name=name, ok=_writable(path), detail=f"{path}" + ("" if path.exists() else " (created on first use)"),
              fix=None if _writable(path) else f"Make {path} writable, or point OPTOUT_{name.split()[0].upper()}_DIR elsewhere.")
        for name, path in dirs.items()
    ]


def check_evidence_size(settings: Settings, *, large_bytes: int = LARGE_EVIDENCE_BYTES) -> Check:
    """Daily rechecks of many accounts grow the evidence folder without end unless routine runs are pruned."""
    root = settings.evidence_root
    if not root.is_dir():
        return Check(name="evidence size", ok=True, required=False, detail="no evidence yet")
    runs = sum(1 for _ in root.glob("*/*/receipt.json"))
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    days = settings.prune_after_days
    retention = f"routine runs pruned after {days:g} day(s)" if days is not None else "everything kept"
    unbounded = days is None and size > large_bytes
    return Check(name="evidence size", ok=not unbounded, required=False,
                 detail=f"{runs} run(s), {size / 1e6:.1f} MB; {retention}",
                 fix="Set prune_after_days (e.g. 90) in config.toml, or run `optout prune --older-than-days 90`."
                 if unbounded else None)


def check_base_url(settings: Settings) -> Check:
    """Whether X (or the replica) answers at all; not required, since doctor may run offline."""
    try:
        with urllib.request.urlopen(settings.url("/"), timeout=REACH_TIMEOUT_S) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Check(name="base URL", ok=False, required=False, detail=f"{settings.base_url} did not answer ({reason})",
                     fix="Check the network or proxy, or OPTOUT_BASE_URL.")
    return Check(name="base URL", ok=True, required=False, detail=f"{settings.base_url} answered HTTP {status}")


def check_last_recheck(settings: Settings) -> Check:
    from optout import recheck_failure

    failure = recheck_failure.load(settings)
    if failure is None:
        return Check(name="last recheck", ok=True, required=False, detail="no failed recheck on record")
    return Check(name="last recheck", ok=False, required=False, detail=failure.sentence()
                 + ("" if failure.notified else " (not yet notified: the next recheck sends it again)"),
                 fix="Fix the cause, then run `optout recheck --all` (a recheck that runs clears this).")


def check_login_paths(settings: Settings) -> list[Check]:
    """The ways into X this machine has, best first when X refuses the automatic login (README, "When X
    refuses the automatic login"); local browser sessions are found by cookie names, nothing decrypted."""
    from optout.local_browsers import sessions_on_this_machine

    host = urlsplit(settings.base_url).hostname
    found = [f for f in sessions_on_this_machine(settings.base_url) if f.logged_in]
    sessions = Check(
        name="browser sessions", ok=bool(found), required=False,
        detail=("; ".join(f"{f.store.browser} {f.store.profile} ({', '.join(f.names)})" for f in found)
                or f"no local browser holds a {host} session"),
        fix=None if found else f"Log in to {host} in Chrome, Chromium, Brave, Edge, Firefox or Safari, then "
                               "`optout session import HANDLE --from-browser NAME`.",
    )
    display = sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    interactive = Check(
        name="interactive login", ok=display, required=False,
        detail="a visible browser can open here" if display else "no display: `optout login --interactive` needs one",
        fix=None if display else "Run it on a desktop, or under `xvfb-run` with a VNC viewer.",
    )
    return [sessions, interactive]


def check_strings(settings: Settings) -> Check:
    """Which strings file is loaded: the built-in catalog texts alone, or with the user's own file."""
    user = Path(settings.config_dir) / texts.USER_FILE
    try:
        loaded = texts.load(settings.config_dir)
    except OptoutError as exc:
        return Check(name="strings", ok=False, required=False, detail=exc.message, fix=exc.hint)
    built_in = f"built-in {texts.BUILTIN.name} ({', '.join(texts.LANGUAGES)})"
    if loaded.user_file:
        return Check(name="strings", ok=True, required=False, detail=f"{built_in} + your {loaded.user_file}")
    return Check(name="strings", ok=True, required=False, detail=f"{built_in}; no {user} (optional)")


def run_doctor(settings: Settings, *, browser_only: bool = False) -> DoctorReport:
    if browser_only:
        return DoctorReport(checks=[check_browser(settings)])
    return DoctorReport(checks=[check_browser(settings), check_keyring(settings), *check_dirs(settings),
                                check_evidence_size(settings), check_strings(settings), check_site(settings),
                                check_base_url(settings), check_last_recheck(settings),
                                *check_login_paths(settings)])
