"""`optout session import --from-browser`: take the X session of the person's own logged-in browser,
prove it is alive and belongs to the account, and keep it in the keyring. An account with a session and
no password can then run, check and recheck; only a dead session asks for a password again."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import SecretStr

from optout.browser import open_browser
from optout.config import Settings
from optout.credentials import AccountInfo, CredentialStore, SessionCookies, normalize_handle
from optout.errors import BadInput
from optout.local_browsers import read_session_cookies
from optout.x.login import Attempt, session_alive, session_cookie_params


async def import_from_browser(settings: Settings, store: CredentialStore, handle: str, browser_name: str,
                              profile: Path | None = None) -> AccountInfo:
    key = normalize_handle(handle)
    store.check()  # no keyring: fail before touching the browser's cookie store
    jar = read_session_cookies(browser_name, settings.base_url, profile)
    session = SessionCookies(auth_token=SecretStr(jar["auth_token"]), ct0=SecretStr(jar["ct0"]),
                             twid=jar.get("twid"), saved_at=time.time())
    if not await _alive(settings, key, session):
        raise BadInput(
            f"The {browser_name} session is not logged in to X as @{key}: it has expired, was logged out, or "
            "belongs to another account. Nothing was stored.",
            hint=f"Log in as @{key} in {browser_name}, close it, and import again.",
        )
    store.save_session(key, session)
    return store.info(key)


async def _alive(settings: Settings, handle: str, session: SessionCookies) -> bool:
    async with open_browser(settings) as browser:
        context = await browser.new_context()
        try:
            await context.add_cookies(session_cookie_params(session, settings))
            attempt = Attempt(context=context, page=await context.new_page(), handle=handle, settings=settings,
                              prompter=None)
            return await session_alive(attempt)
        finally:
            await context.close()
