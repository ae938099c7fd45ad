"""Proxies: the whole of an account's traffic through one address (Playwright's per-context proxy).
Many accounts behind one address is what X flags first, so a batch can give each account its own.

A proxy URL names scheme, host, port and at most a user name; its password lives in the OS keyring
(`optout proxy password URL`), never in a config or accounts file, and never in a log line: only
`display()` (no user, no password) is ever printed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from optout.errors import BadInput
from optout.redact import shown_url

SCHEMES = ("http", "https", "socks5")


@dataclass(frozen=True)
class ProxyUrl:
    scheme: str
    host: str
    port: int
    username: str | None = None

    @property
    def server(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def key(self) -> str:
        """What its password is stored under: one entry per user at one proxy."""
        return f"{self.scheme}://{self.username + '@' if self.username else ''}{self.host}:{self.port}"

    def display(self) -> str:
        return self.server

    def playwright(self, password_of: Callable[[ProxyUrl], str | None]) -> dict:
        """Playwright's proxy option. Loopback addresses go through the proxy too: an account's traffic
        takes one way only."""
        option = {"server": self.server, "bypass": "<-loopback>"}
        if self.username:
            password = password_of(self)
            if password is None:
                raise BadInput(f"No password is stored for the proxy user {self.username} at {self.server}.",
                               hint=f"Store it: `optout proxy password {self.key}` (hidden prompt or --password-stdin).")
            option |= {"username": self.username, "password": password}
        return option


def parse_proxy(url: str) -> ProxyUrl:
    """A proxy URL from the command line, config or accounts file; BadInput on anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in SCHEMES or not parts.hostname:
        raise BadInput(f"{shown_url(url)!r} is not a proxy URL.",
                       hint="Write it as http://host:port, https://host:port or socks5://host:port.")
    if parts.password is not None:
        raise BadInput(f"The proxy URL for {parts.hostname} holds a password; optout keeps proxy passwords only "
                       "in the OS keyring.",
                       hint=f"Remove it from the URL and store it with `optout proxy password "
                            f"{parts.scheme}://{parts.username}@{parts.hostname}:{port or _default_port(parts.scheme)}`.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BadInput(f"The proxy URL {shown_url(url)!r} has a path or query; a proxy is scheme://host:port only.")
    return ProxyUrl(parts.scheme, parts.hostname, port or _default_port(parts.scheme),
                    unquote(parts.username) if parts.username else None)


def _default_port(scheme: str) -> int:
    return {"http": 80, "https": 443, "socks5": 1080}[scheme]
