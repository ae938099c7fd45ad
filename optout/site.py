"""Which site a secret belongs to, and the check that it only goes there.

A site is scheme + host, plus the port when it is not the scheme's default: `https://x.com`,
`http://127.0.0.1:8765`. x.com and twitter.com (with www. and mobile.) over https are one site, X's,
written `https://x.com`. Every secret in the keyring is stored for one site (credentials.py), and
`ensure_on_site` is called on the live page right before a password or code is typed, so a leftover
demo URL, a shared config.toml or a redirect can never carry X's secrets to another host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from optout.errors import WrongSite

X_SITE = "https://x.com"
X_HOSTS = frozenset(f"{sub}{domain}" for sub in ("", "www.", "mobile.") for domain in ("x.com", "twitter.com"))
_DEFAULT_PORTS = {"http": 80, "https": 443}


def site_of(url: str) -> str:
    """The site of a URL (or of a site string: it maps to itself). ValueError when it has no host."""
    parts = urlsplit(url.strip())
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")
    if scheme not in _DEFAULT_PORTS or not host:
        raise ValueError(f"not an http(s) URL with a host: {url[:200]!r}")
    port = parts.port  # ValueError for a port out of range
    if scheme == "https" and host in X_HOSTS and port in (None, 443):
        return X_SITE
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port not in (None, _DEFAULT_PORTS[scheme]) else "")


def is_x(url: str) -> bool:
    """True when the URL is on X itself (not the replica, a demo or anything else)."""
    try:
        return site_of(url) == X_SITE
    except ValueError:
        return False


def ensure_on_site(live_url: str, site: str | None, what: str) -> None:
    """Raise WrongSite unless `live_url` (read from the page this very moment) is on `site`; a secret
    whose site is unknown (None) goes nowhere. `what` names the secret for the message ("the password");
    the message never holds a value."""
    try:
        here = site_of(live_url)
    except ValueError:
        here = live_url.split("?")[0][:200] or "(no address)"
    bound = site_of(site) if site else "no known site"
    if here != bound:
        raise WrongSite(
            f"optout did not send {what}: the page is on {here}, but it is stored for {bound}.",
            hint="Secrets go only to the site they were stored for. If this page is right, store the account "
            "for it with OPTOUT_BASE_URL set to it; otherwise check base_url in config.toml and OPTOUT_BASE_URL.",
            url=live_url.split("?")[0][:200],
        )


async def ensure_field_on_site(field, site: str | None, what: str) -> None:
    """`ensure_on_site` for the document that holds `field` (a Playwright locator), read from the page
    right before typing into it, so a redirect or a frame from another host is caught too."""
    ensure_on_site(await field.evaluate("el => el.ownerDocument.location.href"), site, what)
