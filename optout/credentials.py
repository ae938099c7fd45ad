"""The OS keyring: each account's password, TOTP secret, recovery identifiers and session cookies.

This is the only module that imports `keyring`. Secrets travel as pydantic `SecretStr`, so a stray
`repr()`, log line or exception shows `**********` instead of the value. Keyring backends cannot list
their entries, so a small non-secret index entry remembers which handles exist.

Entries, all under the service name `settings.keyring_service`:
    <handle>            the password (so a person browsing their keychain sees "optout / alice")
    <handle>:totp       the TOTP secret (base32)
    <handle>:ids        JSON {"username", "phone", "email"}: answers for X's unusual-activity screen
    <handle>:session    JSON {"auth_token", "ct0", "twid", "expires", "saved_at"}: a few hundred bytes,
                        well under the ~2.5 KB some keyrings allow per entry
    __handles__         JSON list of handles (the index; holds no secret)
    ::receipt-signing-key  the Ed25519 key that signs receipts (PEM, PKCS8), made on first use
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import TypeVar

import keyring
import keyring.backend
import keyring.errors
from filelock import FileLock
from pydantic import BaseModel, SecretStr

from optout.config import Settings
from optout.errors import BadInput, KeyringUnavailable, UnknownAccount
from optout.files import make_private_dir

INDEX_ENTRY = "__handles__"
PROBE_ENTRY = "__optout_probe__"
SIGNING_KEY_ENTRY = "::receipt-signing-key"  # ':' is never in a handle, so no account can collide
SESSION_COOKIES = ("auth_token", "ct0", "twid")
REQUIRED_COOKIES = ("auth_token", "ct0")
_HANDLE_RE = re.compile(r"^[a-z0-9_]{1,50}$")

KEYRING_HELP = (
    "Linux server: install gnome-keyring and dbus, then run optout inside `dbus-run-session` with the "
    "keyring unlocked (`gnome-keyring-daemon --unlock --components=secrets`, the unlock password on stdin); "
    "see README 'Keyring on servers'. Linux desktop: log in to a session whose keyring is unlocked. "
    "macOS: unlock the login keychain (`security unlock-keychain`), also needed over SSH. "
    "Windows: Credential Manager works without set-up. Everywhere: PYTHON_KEYRING_BACKEND picks a backend "
    "by name (e.g. keyring.backends.SecretService.Keyring); unset it if it names one that cannot work."
)

T = TypeVar("T")


def normalize_handle(handle: str) -> str:
    """X matches screen names case-insensitively; users type them with or without '@'."""
    key = handle.strip().lstrip("@").lower()
    if not _HANDLE_RE.match(key):
        raise BadInput(
            f"{handle.strip()!r} is not an X handle.",
            hint="A handle has letters, digits and underscores only, e.g. @alice or alice.",
        )
    return key


class Credentials(BaseModel):
    """What logging in needs. Secrets are SecretStr: call `.get_secret_value()` only where typed."""

    handle: str
    password: SecretStr
    totp_secret: SecretStr | None = None
    username: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def recovery_answers(self) -> list[str]:
        """What to type when X asks 'enter your phone number or username', best first."""
        return [v for v in (self.phone, self.email, self.username) if v]


class SessionCookies(BaseModel):
    """The three cookies that make a logged-in X session, and when the first of them expires."""

    auth_token: SecretStr
    ct0: SecretStr
    twid: str | None = None  # absent for a pasted session (auth_token and ct0 are enough)
    expires: float | None = None  # epoch seconds; None = browser-session cookies
    saved_at: float | None = None

    @property
    def expired(self) -> bool:
        return self.expires is not None and self.expires <= time.time()

    def dump(self) -> str:
        return json.dumps({
            "auth_token": self.auth_token.get_secret_value(),
            "ct0": self.ct0.get_secret_value(),
            "twid": self.twid,
            "expires": self.expires,
            "saved_at": self.saved_at,
        })


class AccountInfo(BaseModel):
    """What is stored for a handle, never the values: for `accounts list`."""

    handle: str
    password: bool
    totp: bool
    username: bool
    phone: bool
    email: bool
    session: bool
    session_expires: datetime | None = None
    session_saved: datetime | None = None


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch else None


def backend_name(backend: keyring.backend.KeyringBackend | None = None) -> str:
    backend = backend or keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _failing_backend(exc: BaseException) -> str:
    """Which backend class raised, read from the traceback (keyring never got to return it)."""
    found = "chosen by keyring"
    tb = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("cls") or type(tb.tb_frame.f_locals.get("self", None))
        if isinstance(owner, type) and issubclass(owner, keyring.backend.KeyringBackend):
            found = f"{owner.__module__}.{owner.__name__}"
        tb = tb.tb_next
    return found


class CredentialStore:
    """The account's secrets in the OS keyring; every keyring failure becomes KeyringUnavailable."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.service = settings.keyring_service
        self._lock_path = settings.state_dir / "credentials-index.lock"

    # ---- keyring access: the one place exceptions are translated ----

    def _backend(self) -> keyring.backend.KeyringBackend:
        try:
            backend = keyring.get_keyring()
            usable = backend.priority > 0  # fail.Keyring and null.Keyring would keep nothing
        except Exception as exc:  # a backend named by PYTHON_KEYRING_BACKEND that cannot start
            raise self._unavailable(f"the keyring backend {_failing_backend(exc)} could not start: "
                                    f"{type(exc).__name__} {_first_line(exc)}") from None
        if not usable:
            raise self._unavailable(f"no usable keyring backend was found ({backend_name(backend)})")
        return backend

    def _call(self, what: str, fn: Callable[..., T], *args) -> T:
        backend = self._backend()
        try:
            return fn(*args)
        except keyring.errors.PasswordDeleteError:
            raise
        except Exception as exc:  # backends raise D-Bus, OS and keyring errors alike
            # The text of a backend error never includes the value we passed, but keep only its class
            # and first line so nothing long (or surprising) ends up in a message.
            raise self._unavailable(
                f"{what} failed in {backend_name(backend)}: {type(exc).__name__} {_first_line(exc)}") from None

    def _unavailable(self, why: str) -> KeyringUnavailable:
        return KeyringUnavailable(f"The OS keyring cannot be used: {why}.", hint=KEYRING_HELP)

    def _get(self, entry: str) -> str | None:
        return self._call("reading", keyring.get_password, self.service, entry)

    def _set(self, entry: str, value: str) -> None:
        self._call("writing", keyring.set_password, self.service, entry, value)

    def _delete(self, entry: str) -> bool:
        try:
            self._call("deleting", keyring.delete_password, self.service, entry)
            return True
        except keyring.errors.PasswordDeleteError:
            return False  # not there: nothing to delete

    # ---- the index of handles ----

    def handles(self) -> list[str]:
        raw = self._get(INDEX_ENTRY)
        try:
            return sorted(set(json.loads(raw))) if raw else []
        except (ValueError, TypeError):
            return []

    def _update_index(self, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        make_private_dir(self._lock_path.parent)
        with FileLock(str(self._lock_path), timeout=self.settings.lock_timeout_s):
            current = (set(self.handles()) | set(add)) - set(remove)
            if current:
                self._set(INDEX_ENTRY, json.dumps(sorted(current)))
            else:
                self._delete(INDEX_ENTRY)

    # ---- credentials ----

    def has(self, handle: str) -> bool:
        return self._get(normalize_handle(handle)) is not None

    def get(self, handle: str) -> Credentials:
        key = normalize_handle(handle)
        password = self._get(key)
        if password is None:
            raise UnknownAccount(
                f"No password is stored for @{key}.",
                hint=f"Add it with `optout accounts add {key}`.",
            )
        totp = self._get(f"{key}:totp")
        ids = self._load_json(f"{key}:ids")
        return Credentials(
            handle=key,
            password=SecretStr(password),
            totp_secret=SecretStr(totp) if totp else None,
            username=ids.get("username"),
            phone=ids.get("phone"),
            email=ids.get("email"),
        )

    def save(self, creds: Credentials) -> None:
        """Store (or replace) the password; the TOTP secret and identifiers only when given."""
        key = normalize_handle(creds.handle)
        self._set(key, creds.password.get_secret_value())
        if creds.totp_secret is not None:
            self._set(f"{key}:totp", creds.totp_secret.get_secret_value())
        given = {k: v for k, v in (("username", creds.username), ("phone", creds.phone),
                                   ("email", creds.email)) if v}
        if given:
            self._set(f"{key}:ids", json.dumps({**self._load_json(f"{key}:ids"), **given}))
        self._update_index(add=[key])

    def remove(self, handle: str) -> bool:
        """Forget everything about the handle; False when nothing was stored."""
        key = normalize_handle(handle)
        indexed = key in self.handles()
        found = [self._delete(entry) for entry in (key, f"{key}:totp", f"{key}:ids", f"{key}:session")]
        if indexed:
            self._update_index(remove=[key])
        return indexed or any(found)

    def info(self, handle: str) -> AccountInfo:
        key = normalize_handle(handle)
        ids = self._load_json(f"{key}:ids")
        session = self.load_session(key, include_expired=True)
        return AccountInfo(
            handle=key,
            password=self._get(key) is not None,
            totp=self._get(f"{key}:totp") is not None,
            username=bool(ids.get("username")),
            phone=bool(ids.get("phone")),
            email=bool(ids.get("email")),
            session=session is not None and not session.expired,
            session_expires=_when(session.expires) if session else None,
            session_saved=_when(session.saved_at) if session else None,
        )

    # ---- sessions ----

    def load_session(self, handle: str, *, include_expired: bool = False) -> SessionCookies | None:
        data = self._load_json(f"{normalize_handle(handle)}:session")
        if not all(data.get(name) for name in REQUIRED_COOKIES):
            return None
        session = SessionCookies(**{k: data.get(k) for k in SessionCookies.model_fields})
        return None if session.expired and not include_expired else session

    def save_session(self, handle: str, cookies: SessionCookies) -> None:
        key = normalize_handle(handle)
        stamped = cookies.model_copy(update={"saved_at": cookies.saved_at or time.time()})
        self._set(f"{key}:session", stamped.dump())
        self._update_index(add=[key])

    def forget_session(self, handle: str) -> bool:
        return self._delete(f"{normalize_handle(handle)}:session")

    # ---- health ----

    def check(self) -> str:
        """Prove the keyring works by writing, reading and deleting a probe entry; returns the backend."""
        value = uuid.uuid4().hex
        self._set(PROBE_ENTRY, value)
        read = self._get(PROBE_ENTRY)
        self._delete(PROBE_ENTRY)
        if read != value:
            raise self._unavailable(f"{backend_name(self._backend())} did not return what was written to it")
        return backend_name(self._backend())

    # ---- the receipt-signing key (optout/signing.py): a PEM private key, no handle can be named so ----

    def signing_key(self) -> str | None:
        return self._get(SIGNING_KEY_ENTRY)

    def save_signing_key(self, pem: str) -> None:
        self._set(SIGNING_KEY_ENTRY, pem)

    def _load_json(self, entry: str) -> dict:
        raw = self._get(entry)
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
