"""A stable split of an accounts file across machines: `--shard I/N` takes the accounts whose handle
hashes to share I of N. The hash is SHA-256 of the normalised handle (not Python's per-process salted
hash()), so every machine, every Python version and every re-run agrees on who does what, and adding
or removing an account never moves the others."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from optout.errors import BadInput

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class HasKey(Protocol):
    key: str


T = TypeVar("T", bound=HasKey)


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as in `--shard 2/4` (Playwright's and Jest's convention)
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, key: str) -> bool:
        return shard_number(key, self.count) == self.index

    def select(self, items: Iterable[T]) -> list[T]:
        """The items of this share, in their original order."""
        return [item for item in items if self.owns(item.key)]


def shard_number(key: str, count: int) -> int:
    """Which share (1..count) a normalised handle belongs to."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """`I/N` with 1 <= I <= N; anything else is bad input with an example."""
    match = _SHARD.match(text or "")
    if not match:
        raise BadInput(f"--shard {text!r} is not of the form I/N.", hint="Example: --shard 2/4 takes the second of four shares.")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise BadInput(
            f"--shard {text}: the share number must be between 1 and {max(count, 1)}.",
            hint="Shares count from 1 (a zero-based index such as $JOB_COMPLETION_INDEX needs +1).",
        )
    return Shard(index, count)


def partition(keys: Sequence[str], count: int) -> dict[int, list[str]]:
    """Every share's keys, for `optout batch --shard` previews and the partition test."""
    shares: dict[int, list[str]] = {i: [] for i in range(1, count + 1)}
    for key in keys:
        shares[shard_number(key, count)].append(key)
    return shares
