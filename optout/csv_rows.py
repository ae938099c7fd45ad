"""What both CSV files optout reads have in common: the accounts file (optout/accounts_file.py) and the
credentials to import (optout/accounts_import.py). Rows keep their line numbers for messages, blank rows
and `#` comments are skipped, and a handle given twice is a problem naming where it came first."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


class CsvError(ValueError):
    """Not valid CSV, at `line`. The reason is csv's own and never quotes a cell."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


def read_rows(text: str) -> list[tuple[int, list[str]]]:
    """(line, cells) of every row that says something. Cells as written: a password keeps its spaces, and
    a quoted cell may hold a comma or a line break."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise CsvError(reader.line_num, str(exc)) from None
    return [(n, row) for n, row in rows if any(c.strip() for c in row) and not row[0].lstrip().startswith("#")]


def first_of_each_handle(items: Iterable[T], handle: Callable[[T], str], where: Callable[[T], str],
                         problems: list[str]) -> list[T]:
    """The items in order, each handle's first only; every repeat adds a problem naming both places."""
    first: dict[str, str] = {}
    kept: list[T] = []
    for item in items:
        key = handle(item)
        if key in first:
            problems.append(f"{where(item)}: @{key} appears twice (first at {first[key]})")
            continue
        first[key] = where(item)
        kept.append(item)
    return kept
