"""What X's pages and controls say, in every language optout knows, and how a seen text is matched.

The built-in table (optout/strings/catalog.toml) marks each string confirmed (against a source) or
best-effort. A user's <config dir>/strings.toml, same layout, adds or corrects strings for their
language without a new release: a string list given there for a key and language replaces the
built-in one. Matching ignores case, whitespace, punctuation and Unicode presentation (NFKC), because X
changes those freely ("Grok & Third-party Collaborators" / "Grok and third party collaborators").
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from optout.errors import BadInput

BUILTIN = Path(__file__).with_name("strings") / "catalog.toml"
USER_FILE = "strings.toml"
LANGUAGES = ("en", "de", "es", "fr", "ja", "pt", "it", "tr", "ko", "ar", "id")
_TABLES = ("titles", "labels")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFKC, case-folded, punctuation and symbols turned to spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(ch)[0] in "PSZC" else ch for ch in text)
    return _SPACE.sub(" ", text).strip()


@dataclass
class Strings:
    """The merged tables: table -> key -> lang -> list of texts, plus where they came from."""

    tables: dict[str, dict[str, dict[str, list[str]]]]
    confirmed: set[str]
    user_file: Path | None = None  # the user's strings file, when one was loaded
    _norm: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def texts(self, table: str, key: str) -> list[str]:
        """Every known text of one title or label, all languages, normalised."""
        if (table, key) not in self._norm:
            langs = self.tables.get(table, {}).get(key, {})
            self._norm[(table, key)] = sorted({normalise(t) for texts in langs.values() for t in texts} - {""})
        return self._norm[(table, key)]

    def is_confirmed(self, table: str, key: str, lang: str) -> bool:
        return f"{table}.{key}.{lang}" in self.confirmed


def says(seen: str, known: list[str]) -> bool:
    """True when a seen text (a label, a description, a row) is or contains, word for word, a known one."""
    padded = f" {normalise(seen)} "
    return any(f" {k} " in padded for k in known)


def _read(path: Path) -> dict:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise BadInput(f"The strings file {path} is not valid TOML: {exc}.",
                       hint="Fix it or move it away; its layout is that of optout/strings/catalog.toml.") from None


def _merge(base: dict, extra: dict, path: Path) -> None:
    for table in _TABLES:
        for key, langs in (extra.get(table) or {}).items():
            if not isinstance(langs, dict) or not all(
                    isinstance(v, list) and all(isinstance(t, str) for t in v) for v in langs.values()):
                raise BadInput(f"{path}: [{table}.{key}] must map language codes to lists of strings.",
                               hint='For example: [labels.partners]\nnl = ["Extra informatie delen met zakenpartners"]')
            base.setdefault(table, {}).setdefault(key, {}).update(langs)


@lru_cache(maxsize=8)
def _load(config_dir: Path | None, _mtime: float | None) -> Strings:
    data = _read(BUILTIN)
    tables = {t: data.get(t, {}) for t in _TABLES}
    user = config_dir / USER_FILE if config_dir else None
    if user and user.is_file():
        _merge(tables, _read(user), user)
    else:
        user = None
    return Strings(tables, set(data.get("confirmed", {}).get("strings", [])), user)


def load(config_dir: Path | None = None) -> Strings:
    """The built-in strings merged with the user's file in `config_dir` (cached until that file changes)."""
    folder = Path(config_dir) if config_dir else None
    try:
        mtime = (folder / USER_FILE).stat().st_mtime if folder else None
    except OSError:
        mtime = None
    return _load(folder, mtime)


def confirmed_report() -> list[str]:
    """The built-in strings confirmed against a source, as "<table>.<key>.<lang>"."""
    return sorted(load().confirmed)
