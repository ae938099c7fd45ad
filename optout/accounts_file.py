"""The accounts file of a batch: TOML (`[[account]]` tables), YAML (a list, or `accounts:` with a list)
or CSV (header `handle,settings,tags`), chosen by extension. Every entry is validated by one pydantic
model with extra keys forbidden; the whole file is checked before anything runs, and every problem is
reported with the file, the line (or CSV row) and the key. Secrets never belong here: credentials live in
the keyring (`optout accounts import`), so a password-like key is refused without echoing its value."""

from __future__ import annotations

import functools
import gc
import re
import tomllib
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from optout import catalog
from optout.credentials import normalize_handle
from optout.csv_rows import CsvError, first_of_each_handle, read_rows
from optout.proxy import parse_proxy
from optout.errors import BadInput, OptoutError

SECRET_KEYS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "totp", "totp_secret", "otp", "otp_secret",
     "backup_code", "cookie", "cookies", "auth_token", "token", "ct0"}
)
CSV_COLUMNS = ("handle", "settings", "tags", "proxy")
MAX_PROBLEMS_SHOWN = 25
_LIST_SPLIT = re.compile(r"[\s,;|]+")
NO_SECRETS_HINT = (
    "Keep only handles, settings and tags in the accounts file; load passwords and TOTP secrets into the "
    "keyring with `optout accounts import CREDENTIALS.csv`, then delete that CSV."
)


def _split_list(value):
    """CSV cells (and lazy YAML/TOML) give lists as one string: `business-partners grok-training`."""
    if isinstance(value, str):
        return [part for part in _LIST_SPLIT.split(value.strip()) if part]
    return value


@functools.lru_cache(maxsize=512)
def _catalog_ids(names: tuple[str, ...]) -> tuple[str, ...]:
    """The catalog ids a settings list names; cached, since 10,000 accounts share a few lists."""
    if [i.lower() for i in names] == ["all"]:
        return tuple(catalog.all_ids())
    return tuple(spec.id for spec in catalog.select(list(names)))


class AccountEntry(BaseModel):
    """One account of a batch. `settings` None means: the batch's --setting/--all choice (or the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    handle: str
    settings: tuple[str, ...] | None = None
    tags: tuple[str, ...] = ()
    proxy: str | None = None  # scheme://[user@]host:port; its password only in the keyring (optout.proxy)

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_proxy(v)
            except OptoutError as exc:
                raise ValueError(exc.message) from None
        return v

    @field_validator("handle")
    @classmethod
    def _screen_name(cls, v: str) -> str:
        try:
            normalize_handle(v)
        except OptoutError:
            raise ValueError("an X handle is letters, digits and underscores only (with or without @)") from None
        return v.strip().lstrip("@")

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_list(cls, v):
        v = _split_list(v)
        return None if v == [] else v

    @field_validator("settings")
    @classmethod
    def _known_settings(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return None
        try:
            return _catalog_ids(v)
        except OptoutError as exc:
            raise ValueError(f"{exc.message} {exc.hint}") from None

    @field_validator("tags", mode="before")
    @classmethod
    def _tags_list(cls, v):
        return _split_list(v)

    @property
    def key(self) -> str:
        return normalize_handle(self.handle)


@dataclass(frozen=True)
class AccountsFile:
    path: Path
    accounts: list[AccountEntry]

    @property
    def handles(self) -> list[str]:
        return [a.key for a in self.accounts]


# A raw entry and a way to say where it (or one of its keys) sits in the file.
Where = Callable[[str | None], str]
RawItems = list[tuple[Where, object]]


def load_accounts(path: str | Path) -> AccountsFile:
    """Parse and validate the whole file; raise BadInput listing every problem, or return all entries."""
    path = Path(path)
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise BadInput(
            f"{path}: unknown accounts file type {path.suffix or '(no extension)'!r}.",
            hint="Use .toml ([[account]] tables), .yaml/.yml (a list of accounts) or .csv (header handle,settings,tags).",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"The accounts file {path} is not UTF-8 text (byte {exc.start + 1} is not valid UTF-8).",
                       hint="Save it as UTF-8 (most editors offer it under 'Save as' or 'Encoding').") from None
    except OSError as exc:
        raise BadInput(f"Cannot read the accounts file {path}: {exc.__class__.__name__}.",
                       hint="Check the path and that the file is UTF-8 text.") from None
    with _gc_paused():
        items, problems = loader(text, path)
        accounts = _validate(items, problems)
    if not problems and not accounts:
        problems.append(f"{path}: the file lists no accounts")
    if problems:
        raise BadInput(_problem_text(path, problems), hint=_hint_for(problems))
    return AccountsFile(path=path, accounts=accounts)


@contextmanager
def _gc_paused():
    """Parsing a large file makes hundreds of thousands of objects that all stay alive; the cyclic
    garbage collector, run again and again as they appear, would find nothing and triple the time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _validate(items: RawItems, problems: list[str]) -> list[AccountEntry]:
    checked = [(where, entry) for where, raw in items if (entry := _validate_one(where, raw, problems)) is not None]
    kept = first_of_each_handle(checked, lambda pair: pair[1].key, lambda pair: pair[0]("handle"), problems)
    return [entry for _, entry in kept]


def _validate_one(where: Where, raw: object, problems: list[str]) -> AccountEntry | None:
    if not isinstance(raw, dict):
        problems.append(f"{where(None)}: expected an account (a table with a handle), found {type(raw).__name__}")
        return None
    secret = sorted(k for k in raw if str(k).strip().lower() in SECRET_KEYS)
    if secret:
        for key in secret:
            problems.append(f"{where(str(key))}: key {key!r} is not allowed: no secrets in the accounts file "
                            "(use `optout accounts import`)")
        return None
    try:
        return AccountEntry.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            key = str(err["loc"][0]) if err["loc"] else None
            field = ".".join(str(p) for p in err["loc"]) or "account"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown key (allowed: {', '.join(AccountEntry.model_fields)})"
            problems.append(f"{where(key)}: {field}: {message}")
        return None


def _problem_text(path: Path, problems: list[str]) -> str:
    shown = problems[:MAX_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  - ... and {more} more" if more else "")
    return f"The accounts file {path} is not valid; nothing was run:\n{lines}\n"


def _hint_for(problems: Iterable[str]) -> str:
    if any("no secrets" in p for p in problems):
        return NO_SECRETS_HINT
    return "Fix these lines and run again. Each account needs a handle; settings and tags are optional."


# --- TOML -------------------------------------------------------------------------------------------

_TOML_HEADER = re.compile(r"^\s*\[\[\s*account\s*\]\]")


def _load_toml(text: str, path: Path) -> tuple[RawItems, list[str]]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message has a line and column, never the line's text
        return [], [f"{path}: not valid TOML: {exc}"]
    except RecursionError:  # tomllib recurses once per nested array or table
        return [], [f"{path}: not valid TOML: nested too deeply"]
    problems = [f"{path}: unknown top-level key {k!r} (expected [[account]] tables)" for k in data if k != "account"]
    accounts = data.get("account", [])
    if not isinstance(accounts, list):
        return [], problems + [f"{path}: 'account' must be [[account]] tables"]
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if _TOML_HEADER.match(line)]
    return [(_toml_where(path, lines, headers, n), raw) for n, raw in enumerate(accounts)], problems


def _toml_where(path: Path, lines: list[str], headers: list[int], n: int) -> Where:
    def where(key: str | None) -> str:
        if n >= len(headers):  # inline `account = [{...}]`: only the index is known
            return f"{path} account #{n + 1}" + (f", key {key!r}" if key else "")
        start = headers[n]
        end = headers[n + 1] if n + 1 < len(headers) else len(lines)
        if key:
            pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=")
            for i in range(start + 1, end):
                if pattern.match(lines[i]):
                    return f"{path} line {i + 1} (account #{n + 1}, key {key!r})"
        return f"{path} line {start + 1} (account #{n + 1}" + (f", key {key!r})" if key else ")")

    return where


# --- YAML -------------------------------------------------------------------------------------------


_YAMLBase = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser where PyYAML was built with it
MERGE_TAG = "tag:yaml.org,2002:merge"


class StrictYAMLLoader(_YAMLBase):
    """YAML's safe subset, stricter: a key given twice, a merge key (`<<`), an alias (`*name`) or a
    key that is not a plain scalar is an error, not silently resolved (the last duplicate would win)."""

    def construct_object(self, node, deep=False):
        if node in self.constructed_objects or node in self.recursive_objects:
            raise yaml.constructor.ConstructorError(None, None, "aliases (*name) are not allowed here",
                                                    node.start_mark)
        return super().construct_object(node, deep)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set[tuple[str, str]] = set()
            for key_node, _ in node.value:
                if key_node.tag == MERGE_TAG:
                    raise yaml.constructor.ConstructorError(None, None, "merge keys (<<) are not allowed here",
                                                            key_node.start_mark)
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError(None, None, "a key must be a plain word",
                                                            key_node.start_mark)
                if (key_node.tag, key_node.value) in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key_node.value[:50]!r} appears twice in one mapping", key_node.start_mark)
                seen.add((key_node.tag, key_node.value))
        return super().construct_mapping(node, deep)


def parse_yaml(text: str) -> tuple[yaml.Node | None, object]:
    """The document's root node (for line numbers) and its data, from one pass of the strict loader."""
    loader = StrictYAMLLoader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _load_yaml(text: str, path: Path) -> tuple[RawItems, list[str]]:
    try:
        root, data = parse_yaml(text)
    except yaml.MarkedYAMLError as exc:  # built from the mark, not str(exc), which quotes the line
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return [], [f"{path}: not valid YAML{at}: {exc.problem or exc.context}"]
    except yaml.YAMLError as exc:
        return [], [f"{path}: not valid YAML ({exc.__class__.__name__})"]
    except RecursionError:  # the pure-Python parser on absurdly deep nesting (libyaml stops at 1,000 levels)
        return [], [f"{path}: not valid YAML: nested too deeply"]
    if isinstance(data, dict) and set(data) == {"accounts"}:
        data = data["accounts"]
        root = root.value[0][1]
    if not isinstance(data, list):
        return [], [f"{path}: expected a list of accounts, or `accounts:` holding one"]
    return [(_yaml_where(path, root.value[n], n), raw) for n, raw in enumerate(data)], []


def _yaml_where(path: Path, node: yaml.Node, n: int) -> Where:
    def where(key: str | None) -> str:
        line = node.start_mark.line
        if key and isinstance(node, yaml.MappingNode):
            line = next((k.start_mark.line for k, _ in node.value if k.value == key), line)
        return f"{path} line {line + 1} (account #{n + 1}" + (f", key {key!r})" if key else ")")

    return where


# --- CSV --------------------------------------------------------------------------------------------


def _load_csv(text: str, path: Path) -> tuple[RawItems, list[str]]:
    try:
        rows = read_rows(text)
    except CsvError as exc:
        return [], [f"{path} line {exc.line}: not valid CSV: {exc}"]
    if not rows:
        return [], []
    header_line, header = rows[0]
    columns = [c.strip().lower() for c in header]
    problems = _csv_header_problems(path, header_line, columns)
    if problems:
        return [], problems
    items: RawItems = []
    for line, row in rows[1:]:
        if len(row) > len(columns):
            problems.append(f"{path} row {line}: {len(row)} cells but the header has {len(columns)}")
            continue
        raw = {col: cell.strip() for col, cell in zip(columns, row) if cell.strip()}
        items.append((_csv_where(path, line), raw))
    return items, problems


def _csv_header_problems(path: Path, line: int, columns: list[str]) -> list[str]:
    where = f"{path} row {line} (header)"
    secret = [c for c in columns if c in SECRET_KEYS]
    if secret:
        return [f"{where}: column {c!r} is not allowed: no secrets in the accounts file "
                "(use `optout accounts import`)" for c in secret]
    if "handle" not in columns:  # perhaps no header at all: the row's cells are not echoed (one may be a secret)
        return [f"{where}: the first row must be a header naming a 'handle' column (allowed: {', '.join(CSV_COLUMNS)})"]
    problems = [f"{where}: column {n} is not one of {', '.join(CSV_COLUMNS)}"
                for n, c in enumerate(columns, start=1) if c not in CSV_COLUMNS]
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    problems += [f"{where}: column {c!r} appears twice" for c in duplicates]
    return problems


def _csv_where(path: Path, line: int) -> Where:
    return lambda key: f"{path} row {line}" + (f", column {key!r}" if key else "")


_LOADERS = {".toml": _load_toml, ".yaml": _load_yaml, ".yml": _load_yaml, ".csv": _load_csv}
