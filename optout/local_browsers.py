"""The person's own browsers: where they keep their cookies, which of them hold an X session, and the
three cookies of that session (auth_token, ct0, twid) read with browser-cookie3.

Maintained X clients call a session taken from a logged-in browser the most stable way in when X refuses
automated logins (x-facts, "2026 update"). Only those three cookies of the one site are read; no other
cookie, site or password leaves the browser's store. Listing which browsers hold a session reads cookie
names only, straight from the store's SQLite file, so nothing is decrypted and no keychain prompt appears.

browser-cookie3 rather than rookiepy: against Chromium 156 profiles made by the tests, both read a
profile that uses the basic password store, but only browser-cookie3 decrypted one whose key is kept in
the GNOME keyring (as on a Linux desktop); rookiepy failed with "decrypt_encrypted_value failed".
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from optout.errors import BadInput, EnvironmentProblem

SESSION_COOKIES = ("auth_token", "ct0", "twid")
BROWSERS = ("chrome", "chromium", "brave", "edge", "firefox", "safari")
CHROMIUM_BASED = ("chrome", "chromium", "brave", "edge")


@dataclass(frozen=True)
class CookieStore:
    """One profile's cookie file of one browser."""

    browser: str
    profile: Path  # the profile folder (Chromium: e.g. .../Default; Firefox: .../xxxx.default-release)
    cookie_file: Path
    key_file: Path | None = None  # Chromium on Windows: "Local State" beside the profiles


@dataclass(frozen=True)
class FoundSession:
    """What `doctor` shows: a browser profile holding cookies of the site (names only, never values)."""

    store: CookieStore
    names: tuple[str, ...]

    @property
    def logged_in(self) -> bool:
        return {"auth_token", "ct0"} <= set(self.names)


def _user_data_roots(browser: str) -> list[Path]:
    """Where each browser keeps its profiles by default, on this operating system."""
    home = Path.home()
    if sys.platform == "darwin":
        support = home / "Library" / "Application Support"
        return [{
            "chrome": support / "Google" / "Chrome", "chromium": support / "Chromium",
            "brave": support / "BraveSoftware" / "Brave-Browser", "edge": support / "Microsoft Edge",
            "firefox": support / "Firefox" / "Profiles",
            "safari": home / "Library" / "Containers" / "com.apple.Safari" / "Data" / "Library" / "Cookies",
        }[browser], *([home / "Library" / "Cookies"] if browser == "safari" else [])]
    if sys.platform == "win32":
        local = Path(os.environ.get("LOCALAPPDATA", home / "AppData" / "Local"))
        roaming = Path(os.environ.get("APPDATA", home / "AppData" / "Roaming"))
        return [{
            "chrome": local / "Google" / "Chrome" / "User Data", "chromium": local / "Chromium" / "User Data",
            "brave": local / "BraveSoftware" / "Brave-Browser" / "User Data",
            "edge": local / "Microsoft" / "Edge" / "User Data", "firefox": roaming / "Mozilla" / "Firefox" / "Profiles",
        }.get(browser, local / "none")]
    config = Path(os.environ.get("XDG_CONFIG_HOME") or home / ".config")
    return {
        "chrome": [config / "google-chrome"],
        "chromium": [config / "chromium", home / "snap" / "chromium" / "common" / "chromium"],
        "brave": [config / "BraveSoftware" / "Brave-Browser"],
        "edge": [config / "microsoft-edge"],
        "firefox": [home / ".mozilla" / "firefox", home / "snap" / "firefox" / "common" / ".mozilla" / "firefox"],
        "safari": [],
    }[browser]


def stores_in(browser: str, path: Path) -> list[CookieStore]:
    """The cookie stores under `path`: one profile folder, or a browser's whole user-data folder."""
    if browser == "safari":
        files = [path] if path.is_file() else sorted(path.glob("Cookies.binarycookies"))
        return [CookieStore(browser, f.parent, f) for f in files]
    if browser == "firefox":
        files = [path / "cookies.sqlite"] if (path / "cookies.sqlite").is_file() else sorted(path.glob("*/cookies.sqlite"))
        return [CookieStore(browser, f.parent, f) for f in files]
    found = []
    for profile in [path, *sorted(p for p in path.iterdir() if p.is_dir())] if path.is_dir() else []:
        for cookie_file in (profile / "Network" / "Cookies", profile / "Cookies"):
            if cookie_file.is_file():
                local_state = next((p / "Local State" for p in (profile, profile.parent) if (p / "Local State").is_file()),
                                   None)
                found.append(CookieStore(browser, profile, cookie_file, local_state))
                break
    return found


def default_stores(browsers: tuple[str, ...] = BROWSERS) -> Iterator[CookieStore]:
    for browser in browsers:
        for root in _user_data_roots(browser):
            if root.exists():
                yield from stores_in(browser, root)


def _hosts(base_url: str) -> list[str]:
    host = (urlsplit(base_url).hostname or "").lower()
    return [host, "." + host]


def cookie_names(store: CookieStore, base_url: str) -> tuple[str, ...]:
    """Names of the site's cookies in one store, read without decrypting anything (values stay put)."""
    if store.browser == "safari":
        return tuple(sorted({c.name for c in _read_with_library(store, base_url)}))
    table, host_column = ("moz_cookies", "host") if store.browser == "firefox" else ("cookies", "host_key")
    hosts = _hosts(base_url)
    uri = f"{store.cookie_file.resolve().as_uri()}?mode=ro&immutable=1"  # the browser may hold its lock
    try:
        with closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(f"SELECT DISTINCT name FROM {table} WHERE {host_column} IN (?, ?)", hosts).fetchall()
    except sqlite3.Error:
        return ()
    return tuple(sorted(name for (name,) in rows))


def sessions_on_this_machine(base_url: str) -> list[FoundSession]:
    """Every local browser profile that holds cookies of the site, for `doctor`."""
    found = []
    for store in default_stores():
        names = cookie_names(store, base_url)
        if names:
            found.append(FoundSession(store, names))
    return found


def read_session_cookies(browser: str, base_url: str, profile: Path | None = None) -> dict[str, str]:
    """auth_token, ct0 and (when present) twid of the site, decrypted by browser-cookie3 from the named
    browser's store: the given profile, else the first of its default profiles that holds a session."""
    if browser not in BROWSERS:
        raise BadInput(f"Unknown browser {browser!r}.", hint=f"Choose one of: {', '.join(BROWSERS)}.")
    stores = stores_in(browser, profile) if profile else list(default_stores((browser,)))
    if profile and not stores:
        raise BadInput(f"No {browser} cookie store was found in {profile}.",
                       hint="Give the browser's user-data folder or one profile folder in it (the one holding "
                            "'Cookies' or 'cookies.sqlite').")
    for store in stores:
        if not {"auth_token", "ct0"} <= set(cookie_names(store, base_url)):
            continue
        jar = {c.name: c.value for c in _read_with_library(store, base_url) if c.name in SESSION_COOKIES}
        if {"auth_token", "ct0"} <= set(jar):
            return jar
    where = str(profile) if profile else f"the default {browser} profiles"
    raise BadInput(f"No logged-in {urlsplit(base_url).hostname} session was found in {where}.",
                   hint=f"Log in to {urlsplit(base_url).hostname} in that browser first (and close it, so its "
                        "cookies are written to disk), or name the profile with --browser-profile.")


def _read_with_library(store: CookieStore, base_url: str):
    import browser_cookie3  # only the import command needs it

    reader = {"chrome": browser_cookie3.chrome, "chromium": browser_cookie3.chromium, "brave": browser_cookie3.brave,
              "edge": browser_cookie3.edge, "firefox": browser_cookie3.firefox, "safari": browser_cookie3.safari}
    kwargs: dict = {"cookie_file": str(store.cookie_file), "domain_name": urlsplit(base_url).hostname or ""}
    if store.browser in CHROMIUM_BASED and store.key_file and sys.platform == "win32":
        kwargs["key_file"] = str(store.key_file)
    try:
        jar = reader[store.browser](**kwargs)
    except Exception as exc:  # the library raises bare errors of every kind (keyring, D-Bus, format)
        raise EnvironmentProblem(
            f"The {store.browser} cookie store in {store.profile} could not be read ({type(exc).__name__}).",
            hint="Close the browser and try again. Where its cookie key lives in the desktop keyring (GNOME "
                 "keyring, KWallet, macOS keychain), that keyring must be unlocked in this session; or copy "
                 "the cookies by hand with `optout session import HANDLE`.",
        ) from None
    hosts = set(_hosts(base_url))
    return [c for c in jar if (c.domain or "").lower() in hosts]
