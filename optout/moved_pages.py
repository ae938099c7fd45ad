"""Where X moved a settings page, as found through the menu, remembered per site in the state dir so
later runs go there directly; an entry that stops working is dropped and the menu is walked again."""

from __future__ import annotations

import json
from pathlib import Path

from filelock import FileLock

from optout.config import Settings
from optout.files import make_private_dir, write_private

FILE = "moved_pages.json"


class MovedPages:
    """{base_url: {catalog path: path where X shows it now}} in <state dir>/moved_pages.json."""

    def __init__(self, settings: Settings) -> None:
        self.site = settings.base_url
        self.path = Path(settings.state_dir) / FILE

    def _read(self) -> dict[str, dict[str, str]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or damaged: the menu finds the pages again
        return data if isinstance(data, dict) else {}

    def get(self, catalog_path: str) -> str | None:
        found = self._read().get(self.site, {}).get(catalog_path)
        return found if isinstance(found, str) and found.startswith("/") else None

    def _update(self, catalog_path: str, now: str | None) -> None:
        make_private_dir(self.path.parent)
        with FileLock(str(self.path) + ".lock"):  # batch workers may learn at the same time
            data = self._read()
            site = data.setdefault(self.site, {})
            if now is None:
                site.pop(catalog_path, None)
            else:
                site[catalog_path] = now
            write_private(self.path, json.dumps(data, indent=2, sort_keys=True).encode())

    def remember(self, catalog_path: str, now: str) -> None:
        self._update(catalog_path, now)

    def forget(self, catalog_path: str) -> None:
        if self.get(catalog_path) is not None:
            self._update(catalog_path, None)
