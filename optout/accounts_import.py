"""`optout accounts import FILE|-`: many accounts' credentials at once, from a CSV of
handle,password[,totp] (a header row is optional), into the keyring.

The whole file is validated first (handles, non-empty passwords, TOTP secrets that pyotp accepts, no
repeats) and nothing is stored unless all of it is valid. Messages name rows and handles, never a
value from the password or TOTP columns. The plaintext file is the weak point, so the command ends by
telling the user to delete it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import BaseModel, SecretStr

from optout.accounts import normalize_totp_secret, refuse_terminal
from optout.credentials import Credentials, CredentialStore, normalize_handle
from optout.csv_rows import CsvError, first_of_each_handle, read_rows
from optout.errors import BadInput, OptoutError

HEADER = ("handle", "password", "totp")


class ImportReport(BaseModel):
    """What was stored: handles and whether each got a TOTP secret. No values."""

    source: str  # the file path, or "-" for stdin
    imported: list[str]
    with_totp: list[str]

    @property
    def plaintext_file(self) -> Path | None:
        return None if self.source == "-" else Path(self.source)


@dataclass
class _Row:
    line: int
    handle: str
    password: str
    totp: str | None


def import_credentials(store: CredentialStore, source: str, *, stdin: TextIO) -> ImportReport:
    """Validate every row, then store them all; raise BadInput (listing rows) and store nothing otherwise."""
    text = _read(source, stdin)
    rows = _parse(text, source)
    store.check()
    store.save_all(Credentials(
        handle=row.handle,
        password=SecretStr(row.password),
        totp_secret=SecretStr(row.totp) if row.totp else None,
    ) for row in rows)
    return ImportReport(source=source, imported=[r.handle for r in rows],
                        with_totp=[r.handle for r in rows if r.totp])


def _read(source: str, stdin: TextIO) -> str:
    if source == "-":
        refuse_terminal(stdin, "`optout accounts import -`")
        raw = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        try:
            return raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError:
            raise BadInput("stdin is not UTF-8 text; nothing was imported.",
                           hint="Send the CSV encoded as UTF-8.") from None
    try:
        return Path(source).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(f"{source} is not UTF-8 text (byte {exc.start + 1}); nothing was imported.",
                       hint="Save the CSV as UTF-8.") from None
    except OSError as exc:
        raise BadInput(f"Cannot read {source}: {exc.__class__.__name__}.",
                       hint="Give a UTF-8 CSV file of handle,password[,totp], or - for stdin.") from None


def _parse(text: str, source: str) -> list[_Row]:
    try:
        raw = read_rows(text)  # handles and TOTP secrets are trimmed in _row, passwords never
    except CsvError as exc:
        raise BadInput(f"{source} line {exc.line}: not valid CSV.", hint=_HINT) from None
    problems: list[str] = []
    if raw and {"handle", "password"} <= {c.strip().lower() for c in raw[0][1]}:
        raw = _by_header(source, raw, problems)
    parsed = [row for line, cells in raw if (row := _row(source, line, cells, problems)) is not None]
    rows = first_of_each_handle(parsed, lambda row: row.handle, lambda row: f"{source} row {row.line}", problems)
    if not problems and not rows:
        problems.append(f"{source}: no accounts found")
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise BadInput(f"Nothing was imported; the credentials file has problems:\n{listed}\n", hint=_HINT)
    return rows


def _by_header(source: str, raw: list[tuple[int, list[str]]], problems: list[str]) -> list[tuple[int, list[str]]]:
    """A header row may put the columns in any order: reorder every row to handle,password[,totp]."""
    line, header = raw[0]
    names = [c.strip().lower() for c in header]
    unknown = [n for n, c in enumerate(names, start=1) if c not in HEADER]
    if unknown or len(set(names)) != len(names):
        problems.append(f"{source} row {line} (header): columns must be handle, password and optionally totp, once each")
        return []
    order = [names.index(c) for c in HEADER if c in names]
    return [(n, [row[i] if i < len(row) else "" for i in order] + row[len(names):]) for n, row in raw[1:]]


def _row(source: str, line: int, cells: list[str], problems: list[str]) -> _Row | None:
    where = f"{source} row {line}"
    if len(cells) not in (2, 3):
        problems.append(f"{where}: expected 2 or 3 cells (handle,password[,totp]), found {len(cells)}")
        return None
    if len(cells) == 3 and not cells[2].strip():
        cells = cells[:2]  # an empty totp cell
    try:
        handle = normalize_handle(cells[0])
    except OptoutError:
        problems.append(f"{where}: the handle is not an X handle (letters, digits, underscores)")
        return None
    if not cells[1]:
        problems.append(f"{where} (@{handle}): the password is empty")
        return None
    totp = cells[2].strip() if len(cells) == 3 else None
    if totp:
        try:
            totp = normalize_totp_secret(totp)
        except BadInput:
            problems.append(f"{where} (@{handle}): the TOTP secret is not a valid base32 key or otpauth:// link")
            return None
    return _Row(line, handle, cells[1], totp)


_HINT = ("The file is CSV with one account per row: handle,password[,totp] (an optional header row "
         "`handle,password,totp`); quote a password that contains a comma.")
