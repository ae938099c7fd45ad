"""Which handles have which secrets in the keyring, per keyring service and site: a file in the state dir.

Keyring backends cannot list their entries, so something must remember them. The list is not secret
(handles and the kinds of secret stored, never a value), and kept in the keyring it grew with every
account until Windows Credential Manager's 2,560-byte limit broke it at about 80 accounts; here it has no
limit, and a batch's pre-flight ("who has a password?") reads one file instead of making one keyring
round trip per account.

Layout of credentials-index.json:
    {"version": 1, "services": {"<keyring service>": {"migrated": true,
                                                      "sites": {"https://x.com": {"alice": ["password", "totp"]}}}}}
Writes are atomic (temp file + rename) under a file lock; a reader sees the old file or the new one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from optout.files import make_private_dir, write_private

INDEX_FILE = "credentials-index.json"
LOCK_FILE = "credentials-index.lock"
VERSION = 1
KINDS = ("password", "totp", "ids", "session")

Sites = dict[str, dict[str, list[str]]]  # site -> handle -> kinds


class HandleIndex:
    """The handles of one keyring service; cached in memory until the file changes on disk."""

    def __init__(self, state_dir: Path, service: str, *, lock_timeout_s: float) -> None:
        self.path = Path(state_dir) / INDEX_FILE
        self.service = service
        self._lock_path = Path(state_dir) / LOCK_FILE
        self._lock_timeout_s = lock_timeout_s
        self._cache: tuple[tuple[int, int] | None, dict] | None = None
        self._lock: FileLock | None = None  # one object, so the lock is reentrant within this process

    # ---- reading ----

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def _document(self) -> dict:
        """The whole file (every service), read again only when it changed on disk."""
        stamp = self._stamp()
        if self._cache is not None and self._cache[0] == stamp:
            return self._cache[1]
        data: dict = {}
        if stamp is not None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}  # damaged: rebuilt from the keyring as handles are used again
        if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
            data = {"version": VERSION, "services": {}}
        self._cache = (stamp, data)
        return data

    def _service(self) -> dict:
        entry = self._document()["services"].get(self.service)
        return entry if isinstance(entry, dict) else {}

    def refresh(self) -> None:
        """Forget the cached file: the next read sees what another process wrote meanwhile."""
        self._cache = None

    @property
    def migrated(self) -> bool:
        """Whether the entries of optout versions before the index (no site, `__handles__`) were moved."""
        return bool(self._service().get("migrated"))

    def sites(self) -> Sites:
        sites = self._service().get("sites")
        return sites if isinstance(sites, dict) else {}

    def handles(self, site: str) -> list[str]:
        return sorted(self.sites().get(site) or {})

    def kinds(self, site: str, handle: str) -> set[str]:
        return set((self.sites().get(site) or {}).get(handle) or ())

    # ---- writing ----

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Held while the index (and, during migration, the keyring entries) change."""
        if self._lock is None:
            make_private_dir(self._lock_path.parent)
            self._lock = FileLock(str(self._lock_path), timeout=self._lock_timeout_s)
        with self._lock:
            yield

    def update(self, site: str, changes: Mapping[str, set[str] | None] | None = None, *,
               add: Mapping[str, set[str]] | None = None, migrated: bool | None = None) -> None:
        """Replace the kinds of each handle in `changes` (None or empty: forget it), merge `add`, under
        the lock, and write the file atomically. The caller may already hold the lock (it is reentrant)."""
        with self.locked():
            self.refresh()  # re-read: another process may have written since
            document = self._document()
            service = document["services"].setdefault(self.service, {})
            handles = service.setdefault("sites", {}).setdefault(site, {})
            for handle, kinds in (changes or {}).items():
                if kinds:
                    handles[handle] = sorted(kinds)
                else:
                    handles.pop(handle, None)
            for handle, kinds in (add or {}).items():
                handles[handle] = sorted(set(handles.get(handle, ())) | set(kinds))
            if not handles:
                service["sites"].pop(site)
            if migrated is not None:
                service["migrated"] = migrated
            document["version"] = VERSION
            make_private_dir(self.path.parent)
            write_private(self.path, json.dumps(document, separators=(",", ":"), sort_keys=True).encode())
            self._cache = (self._stamp(), document)
