"""What the `accounts`, `logout` and `session import` commands do: gather secrets from hidden prompts or
stdin (never argv or the environment, which other users and shell history can see), validate them,
and hand them to the credential store."""

from __future__ import annotations

import re
import time
from typing import TextIO

from pydantic import SecretStr

from optout.credentials import AccountInfo, Credentials, CredentialStore, SessionCookies, normalize_handle
from optout.errors import BadInput, UnknownAccount
from optout.otp import normalize_totp_secret
from optout.prompts import Prompter

_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9%_\-]{16,}$")


def refuse_terminal(stdin: TextIO, option: str) -> None:
    """A stdin option reads a pipe; on a terminal the secret would be echoed as it is typed."""
    try:
        tty = stdin.isatty()
    except (AttributeError, ValueError):
        tty = False
    if tty:
        raise BadInput(f"{option} reads a pipe, but stdin is a terminal, where what you type is shown.",
                       hint=f"Leave out {option} to be asked with a hidden prompt, or pipe the value in "
                       "(e.g. from your password manager's command line).")


def read_line(stdin: TextIO) -> str:
    """One line of stdin, read as UTF-8 whatever the locale says, with only its line ending removed
    (a password may begin or end with spaces, or hold any character)."""
    raw = stdin.buffer.readline() if hasattr(stdin, "buffer") else stdin.readline()
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadInput("stdin is not UTF-8 text; nothing was stored.",
                           hint="Send the value encoded as UTF-8.") from None
    return raw.removesuffix("\n").removesuffix("\r")


def _line(stdin: TextIO, what: str) -> str:
    value = read_line(stdin)
    if not value:
        raise BadInput(f"Expected the {what} on stdin, one per line, but the line was empty.")
    return value


def _ask_password(handle: str, prompter: Prompter) -> str:
    first = prompter.ask(f"X password for @{handle}", strip=False)
    if first is None:
        raise BadInput(
            "No terminal to ask for the password.",
            hint=f"Pipe it instead: `optout accounts add {handle} --password-stdin` reads the first line of stdin.",
        )
    again = prompter.ask("The same password again", strip=False)
    if again != first:
        raise BadInput("The two passwords differ; nothing was stored.", hint="Run the command again.")
    return first


def _ask_totp(prompter: Prompter) -> str | None:
    if not prompter.confirm("Add a TOTP secret (two-factor authenticator app key)?", default=False):
        return None
    raw = prompter.ask("TOTP secret (base32 key or otpauth:// link)")
    return normalize_totp_secret(raw) if raw else None


def add_account(
    store: CredentialStore,
    handle: str,
    *,
    prompter: Prompter,
    stdin: TextIO,
    password_stdin: bool = False,
    totp_secret_stdin: bool = False,
    username: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> AccountInfo:
    """Store an account; piped mode reads the password (line 1) and TOTP secret (next line) from stdin."""
    key = normalize_handle(handle)
    if password_stdin or totp_secret_stdin:
        refuse_terminal(stdin, "--password-stdin" if password_stdin else "--totp-secret-stdin")
    store.check()  # fail before asking for a password we could not keep
    password = _line(stdin, "password") if password_stdin else _ask_password(key, prompter)
    if totp_secret_stdin:
        totp = normalize_totp_secret(_line(stdin, "TOTP secret"))
    else:
        totp = None if password_stdin else _ask_totp(prompter)
    store.save(Credentials(
        handle=key,
        password=SecretStr(password),
        totp_secret=SecretStr(totp) if totp else None,
        username=username.strip().lstrip("@") if username else None,
        phone=phone.strip() if phone else None,
        email=email.strip() if email else None,
    ))
    return store.info(key)


def ensure_stored(store: CredentialStore, handles: list[str], prompter: Prompter | None, stdin: TextIO) -> None:
    """A first `optout run` asks for each new account's password (hidden) and optional TOTP secret and
    keeps them in the keyring; with nobody at the terminal it stops before anything starts."""
    for handle in handles:
        key = normalize_handle(handle)  # a typo fails before the browser starts
        if store.has(key) or store.load_session(key) is not None:
            continue
        if prompter is None or not prompter.interactive:
            raise UnknownAccount(
                f"No password is stored for @{key}.",
                hint=f"Add it first: `optout accounts add {key}` (or pipe it with --password-stdin).",
            )
        add_account(store, key, prompter=prompter, stdin=stdin)


def list_accounts(store: CredentialStore) -> list[AccountInfo]:
    return [store.info(handle) for handle in store.handles()]


def remove_account(store: CredentialStore, handle: str) -> str:
    key = normalize_handle(handle)
    if not store.remove(key):
        raise UnknownAccount(f"Nothing is stored for @{key}.", hint="`optout accounts list` shows what is.")
    return key


def forget_session(store: CredentialStore, handle: str) -> bool:
    """Forget the stored X session (a new login happens next time). X itself is not logged out."""
    return store.forget_session(normalize_handle(handle))


def _cookie_value(raw: str | None, name: str) -> str:
    value = (raw or "").strip().strip("\"'")
    if value.lower().startswith(f"{name}="):
        value = value[len(name) + 1:].split(";")[0]
    if not _COOKIE_VALUE.match(value):
        raise BadInput(
            f"That does not look like an X {name} cookie value.",
            hint="In your browser's developer tools (Application > Cookies > https://x.com) copy the Value column.",
        )
    return value


def import_session(store: CredentialStore, handle: str, *, prompter: Prompter, stdin: TextIO,
                   from_stdin: bool = False) -> AccountInfo:
    """Store auth_token and ct0 copied from the person's own logged-in browser."""
    key = normalize_handle(handle)
    if from_stdin:
        refuse_terminal(stdin, "--stdin")
    store.check()
    if from_stdin:
        auth_token, ct0 = _line(stdin, "auth_token"), _line(stdin, "ct0")
    else:
        auth_token, ct0 = prompter.ask("auth_token cookie"), prompter.ask("ct0 cookie")
        if auth_token is None and not prompter.interactive:
            raise BadInput("No terminal to ask for the cookies.",
                           hint=f"Pipe them: `optout session import {key} --stdin` (auth_token, then ct0).")
    store.save_session(key, SessionCookies(
        auth_token=SecretStr(_cookie_value(auth_token, "auth_token")),
        ct0=SecretStr(_cookie_value(ct0, "ct0")),
        saved_at=time.time(),
    ))
    return store.info(key)


def store_proxy_password(store: CredentialStore, url: str, *, prompter: Prompter, stdin: TextIO,
                         from_stdin: bool = False) -> str:
    """Keep a proxy user's password in the keyring (exactly as typed, like an account's); returns the
    proxy as it may be shown (no user, no password)."""
    from optout.proxy import parse_proxy

    proxy = parse_proxy(url)
    if not proxy.username:
        raise BadInput(f"{proxy.display()} names no user, so it needs no password.",
                       hint="Write the proxy as scheme://user@host:port.")
    if from_stdin:
        refuse_terminal(stdin, "--password-stdin")
    store.check()
    password = _line(stdin, "proxy password") if from_stdin else prompter.ask(f"Password of {proxy.key}", strip=False)
    if not password:
        raise BadInput("No terminal to ask for the proxy password.",
                       hint=f"Pipe it: `optout proxy password {proxy.key} --password-stdin`.")
    store.save_proxy_password(proxy, password)
    return proxy.display()
