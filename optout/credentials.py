"""The OS keyring: each account's password, TOTP secret, recovery identifiers and session cookies, per site.

This is the only module that imports `keyring`. Secrets travel as pydantic `SecretStr`, so a stray
`repr()`, log line or exception shows `**********` instead of the value.

Every secret is stored for one site (optout.site: `https://x.com`, or the replica's address), and a
store only ever reads the entries of the site of its base URL, so a leftover demo URL or a shared
config.toml never receives X's secrets; the login checks the live page too. Entries, all under the
service name `settings.keyring_service`:
    <handle>@<site>           the password (a person browsing their keychain sees "optout / alice@x.com")
    <handle>@<site>:totp      the TOTP secret (base32)
    <handle>@<site>:ids       JSON {"username", "phone", "email"}: answers for X's unusual-activity screen
    <handle>@<site>:session   JSON {"auth_token", "ct0", "twid", "expires", "saved_at"}: a few hundred bytes
where <site> is `x.com` for X and the full `scheme://host[:port]` otherwise. Each entry stays small (well
under Windows' 2,560 bytes). optout's own entries have no '@', so no handle can collide with them.
Which handles exist is not secret and lives in the state dir (keyring_index). Entries of versions
before sites (`<handle>`, `<handle>:totp`..., indexed by `__handles__`) are moved to X's site on first use.
The receipt-signing key (signing.py) is one more entry, `::receipt-signing-key` (PEM, PKCS8), made on first use.
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
from filelock import Timeout
from pydantic import BaseModel, Field, SecretStr

from optout import keyring_trust
from optout.config import Settings
from optout.errors import BadInput, KeyringUnavailable, LockBusy, UnknownAccount
from optout.keyring_index import HandleIndex
from optout.site import X_SITE, site_of

LEGACY_INDEX_ENTRY = "__handles__"  # the keyring index of versions before sites; moved out on first use
PROBE_ENTRY = "optout:probe"  # no '@': never the entry of a handle
SIGNING_KEY_ENTRY = "::receipt-signing-key"  # no '@': no account can collide
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
    site: str | None = None  # the site the secrets are stored for; set by CredentialStore.get

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
    site: str | None = Field(default=None, exclude=True)  # where stored; set by CredentialStore.load_session

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
    site: str | None = None  # where these secrets may be sent: https://x.com, or the replica's address


def _when(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, timezone.utc) if epoch else None


def backend_name(backend: keyring.backend.KeyringBackend | None = None) -> str:
    return keyring_trust.backend_name(backend or keyring.get_keyring())


def entry_name(handle: str, site: str, kind: str = "password") -> str:
    """The keyring entry of one secret: `alice@x.com`, `alice@x.com:totp`, `bob@http://127.0.0.1:8765:session`."""
    where = site.removeprefix("https://")
    return f"{handle}@{where}" + ("" if kind == "password" else f":{kind}")


def _legacy_name(handle: str, kind: str) -> str:
    return handle if kind == "password" else f"{handle}:{kind}"


def _index_busy() -> LockBusy:
    return LockBusy("Another optout process is updating the list of stored accounts.",
                    hint="Wait for it to finish, then run again.")


def store_site(settings: Settings) -> str:
    """The site of settings.base_url, or BadInput when it has none (a typo such as `https://`)."""
    try:
        return site_of(settings.base_url)
    except ValueError:
        raise BadInput(f"base_url {settings.base_url[:200]!r} names no host.",
                       hint="Leave it unset for X (https://x.com), or give a full address.") from None


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
    """The account's secrets in the OS keyring, for one site; every keyring failure becomes KeyringUnavailable."""

    def __init__(self, settings: Settings, *, site: str | None = None) -> None:
        self.settings = settings
        self.service = settings.keyring_service
        self.site = site_of(site) if site else store_site(settings)
        self.index = HandleIndex(settings.state_dir, self.service, lock_timeout_s=settings.lock_timeout_s)
        self._migrated = False

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
        if not self.settings.allow_insecure_keyring and not keyring_trust.is_trusted(backend):
            raise self._unavailable(keyring_trust.refusal(backend))
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

    def _entry(self, key: str, kind: str = "password") -> str:
        return entry_name(key, self.site, kind)

    # ---- the index of handles (state dir), and the move from the keyring index ----

    def _ready(self) -> None:
        """On first use, move what versions before sites stored (no site, `__handles__` in the keyring)
        to X's site; it was stored for X, whatever base_url is set today."""
        if self._migrated or self.index.migrated:
            self._migrated = True
            return
        try:
            with self.index.locked():
                self.index.refresh()  # another process may have migrated meanwhile
                if not self.index.migrated:
                    self._migrate_legacy()
        except Timeout:
            raise _index_busy() from None
        self._migrated = True

    def _migrate_legacy(self) -> None:
        raw = self._get(LEGACY_INDEX_ENTRY)
        try:
            legacy = [h for h in json.loads(raw) if isinstance(h, str) and _HANDLE_RE.match(h)] if raw else []
        except (ValueError, TypeError):
            legacy = []
        moved: dict[str, set[str]] = {}
        for key in legacy:
            for kind in ("password", "totp", "ids", "session"):
                value = self._get(_legacy_name(key, kind))
                if value is not None:
                    self._set(entry_name(key, X_SITE, kind), value)
                    moved.setdefault(key, set()).add(kind)
        self.index.update(X_SITE, add=moved, migrated=True)
        # Only once the new entries and the index are safe are the old ones removed (a crash before this
        # point repeats the move, which is harmless).
        for key in legacy:
            for kind in ("password", "totp", "ids", "session"):
                self._delete(_legacy_name(key, kind))
        if raw is not None:
            self._delete(LEGACY_INDEX_ENTRY)

    def _index_update(self, **kw) -> None:
        try:
            self.index.update(self.site, **kw)
        except Timeout:
            raise _index_busy() from None

    def handles(self) -> list[str]:
        """Every handle with anything stored for this site (from the state dir: no keyring round trip)."""
        self._ready()
        return self.index.handles(self.site)

    # ---- credentials ----

    def has(self, handle: str) -> bool:
        """Whether a password is stored. The index answers without a keyring round trip; a handle it
        does not know (a new state dir, an index lost) is looked up in the keyring and indexed again."""
        key = normalize_handle(handle)
        self._ready()
        if "password" in self.index.kinds(self.site, key):
            return True
        if self._get(self._entry(key)) is None:
            return False
        self._index_update(add={key: {"password"}})
        return True

    def missing_passwords(self, handles: Iterable[str]) -> list[str]:
        """The handles with no password stored, for a batch's pre-flight: one read of the index, and a
        keyring look-up only for a handle the index does not list."""
        self._ready()
        keys = [normalize_handle(h) for h in handles]
        known = {h for h, kinds in (self.index.sites().get(self.site) or {}).items() if "password" in kinds}
        return [k for k in keys if k not in known and not self.has(k)]

    def get(self, handle: str) -> Credentials:
        key = normalize_handle(handle)
        self._ready()
        password = self._get(self._entry(key))
        if password is None:
            raise UnknownAccount(
                f"No password is stored for @{key}" + ("" if self.site == X_SITE else f" on {self.site}") + ".",
                hint=f"Add it with `optout accounts add {key}`"
                + ("" if self.site == X_SITE else f" (with OPTOUT_BASE_URL={self.site})") + ".",
            )
        totp = self._get(self._entry(key, "totp"))
        ids = self._load_json(self._entry(key, "ids"))
        return Credentials(
            handle=key,
            password=SecretStr(password),
            totp_secret=SecretStr(totp) if totp else None,
            username=ids.get("username"),
            phone=ids.get("phone"),
            email=ids.get("email"),
            site=self.site,
        )

    def _write(self, creds: Credentials) -> tuple[str, set[str]]:
        key = normalize_handle(creds.handle)
        self._set(self._entry(key), creds.password.get_secret_value())
        kinds = {"password"}
        if creds.totp_secret is not None:
            self._set(self._entry(key, "totp"), creds.totp_secret.get_secret_value())
            kinds.add("totp")
        given = {k: v for k, v in (("username", creds.username), ("phone", creds.phone),
                                   ("email", creds.email)) if v}
        if given:
            self._set(self._entry(key, "ids"), json.dumps({**self._load_json(self._entry(key, "ids")), **given}))
            kinds.add("ids")
        return key, kinds

    def save(self, creds: Credentials) -> None:
        """Store (or replace) the password; the TOTP secret and identifiers only when given."""
        self.save_all([creds])

    def save_all(self, many: Iterable[Credentials]) -> list[str]:
        """`save` for many accounts with one index write at the end (also when the keyring fails
        half-way: what was stored is listed)."""
        self._ready()
        added: dict[str, set[str]] = {}
        try:
            for creds in many:
                key, kinds = self._write(creds)
                added[key] = kinds
        finally:
            if added:
                self._index_update(add=added)
        return list(added)

    def remove(self, handle: str) -> bool:
        """Forget everything about the handle on this site; False when nothing was stored."""
        key = normalize_handle(handle)
        self._ready()
        indexed = key in self.index.handles(self.site)
        found = [self._delete(self._entry(key, kind)) for kind in ("password", "totp", "ids", "session")]
        if indexed:
            self._index_update(changes={key: None})
        return indexed or any(found)

    def info(self, handle: str) -> AccountInfo:
        key = normalize_handle(handle)
        self._ready()
        ids = self._load_json(self._entry(key, "ids"))
        session = self.load_session(key, include_expired=True)
        return AccountInfo(
            handle=key,
            password=self._get(self._entry(key)) is not None,
            totp=self._get(self._entry(key, "totp")) is not None,
            username=bool(ids.get("username")),
            phone=bool(ids.get("phone")),
            email=bool(ids.get("email")),
            session=session is not None and not session.expired,
            session_expires=_when(session.expires) if session else None,
            session_saved=_when(session.saved_at) if session else None,
            site=self.site,
        )

    # ---- sessions ----

    def load_session(self, handle: str, *, include_expired: bool = False) -> SessionCookies | None:
        self._ready()
        data = self._load_json(self._entry(normalize_handle(handle), "session"))
        if not all(data.get(name) for name in REQUIRED_COOKIES):
            return None
        session = SessionCookies(**{k: data.get(k) for k in SessionCookies.model_fields if k != "site"},
                                 site=self.site)
        return None if session.expired and not include_expired else session

    def save_session(self, handle: str, cookies: SessionCookies) -> None:
        key = normalize_handle(handle)
        self._ready()
        stamped = cookies.model_copy(update={"saved_at": cookies.saved_at or time.time()})
        self._set(self._entry(key, "session"), stamped.dump())
        self._index_update(add={key: {"session"}})

    def forget_session(self, handle: str) -> bool:
        key = normalize_handle(handle)
        self._ready()
        forgot = self._delete(self._entry(key, "session"))
        kinds = self.index.kinds(self.site, key)
        if "session" in kinds:
            self._index_update(changes={key: kinds - {"session"}})
        return forgot

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

    # ---- proxy passwords (optout/proxy.py): one entry per user at one proxy, never in a file ----

    def proxy_password(self, proxy) -> str | None:
        return self._get(f"proxy:{proxy.key}")

    def save_proxy_password(self, proxy, password: str) -> None:
        self._set(f"proxy:{proxy.key}", password)

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
