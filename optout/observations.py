"""Controls X shows on a catalog page that optout does not know: news for the user (X may have added a
sharing option), never clicked. recheck tells about each new label once: the ones already told are kept
in the history database's meta table, per site."""

from __future__ import annotations

import json

from optout.models import AccountResult
from optout.store import Store
from optout.texts import normalise

META_KEY = "observed_controls"


def lines(results: list[AccountResult]) -> list[tuple[str, str]]:
    """(identity, sentence) per unknown control seen, one per page and label."""
    found: dict[str, str] = {}
    for result in results:
        for setting in result.settings:
            for o in setting.observations:
                key = f"{o.page}|{normalise(o.label)}"
                found.setdefault(key, f"X shows a control optout does not know on {o.page}: \u201c{o.label}\u201d "
                                      f"({'on' if o.state else 'off'} for @{result.handle}; optout did not touch it).")
    return list(found.items())


def news(store: Store, base_url: str, results: list[AccountResult]) -> list[str]:
    """The sentences about labels not told before on this site; remembers them as told."""
    told = _told(store)
    site = told.setdefault(base_url, [])
    fresh = [(key, line) for key, line in lines(results) if key not in site]
    if fresh:
        site.extend(key for key, _ in fresh)
        store.set_meta(META_KEY, json.dumps(told))
    return [line for _, line in fresh]


def _told(store: Store) -> dict[str, list[str]]:
    try:
        data = json.loads(store.get_meta(META_KEY) or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
