"""X's privacy policy, in several versions, so the policy watcher can be shown a change.

Each ``policy/version_N.md`` starts with ``effective: YYYY-MM-DD`` and then holds ``## `` heading lines
and blank-line separated paragraphs. X serves this page server-rendered (no app shell), so this module
renders plain HTML.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

POLICY_DIR = Path(__file__).with_name("policy")
DEFAULT_VERSION = "version_21"


@dataclass(frozen=True)
class PolicyVersion:
    name: str
    effective: dt.date
    body: str

    @property
    def number(self) -> int:
        return int(self.name.split("_")[1])

    @property
    def effective_text(self) -> str:
        """X writes the date as 'January 15, 2026'."""
        return f"{self.effective:%B} {self.effective.day}, {self.effective.year}"


@lru_cache(maxsize=None)
def versions() -> dict[str, PolicyVersion]:
    found = {}
    for path in POLICY_DIR.glob("version_*.md"):
        head, _, body = path.read_text(encoding="utf-8").partition("\n")
        match = re.fullmatch(r"effective:\s*(\d{4}-\d{2}-\d{2})", head.strip())
        if not match:
            raise ValueError(f"{path}: first line must be 'effective: YYYY-MM-DD'")
        version = PolicyVersion(path.stem, dt.date.fromisoformat(match.group(1)), body.strip())
        found[version.name] = version
    return dict(sorted(found.items(), key=lambda kv: kv[1].number))


def render(version: PolicyVersion, current: str) -> str:
    """The /en/privacy page for one version, with links to the versions before the current one."""
    parts = []
    for block in re.split(r"\n\s*\n", version.body):
        block = block.strip()
        if block.startswith("## "):
            heading, _, block = block.partition("\n")
            parts.append(f"<h2>{html.escape(heading[3:])}</h2>")
        if block.strip():
            parts.append(f"<p>{html.escape(block.strip())}</p>")
    current_no = versions()[current].number
    previous = [v for v in versions().values() if v.number < current_no]
    links = "".join(
        f'<li><a href="/en/privacy/previous/{v.name}">Effective {v.effective_text}</a></li>'
        for v in reversed(previous)
    )
    return _PAGE.format(
        effective=version.effective_text,
        body="\n".join(parts),
        previous=f"<h2>Previous versions</h2><ul>{links}</ul>" if links else "",
    )


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>X Privacy Policy</title>
<link rel="stylesheet" href="/static/legal.css">
</head><body>
<header class="legal-header"><a href="/" aria-label="X"><svg viewBox="0 0 24 24" width="28" height="28"><path d="M18.244 2.25h3.308l-7.227 8.26 8.502 11.24H16.17l-5.214-6.817L4.99 21.75H1.68l7.73-8.835L1.254 2.25H8.08l4.713 6.231zm-1.161 17.52h1.833L7.084 4.126H5.117z"/></svg></a>
<nav aria-label="Legal"><a href="/en/tos">Terms of Service</a><a href="/en/privacy" aria-current="page">Privacy Policy</a><a href="https://help.x.com/rules-and-policies/x-cookies">Cookie Policy</a></nav></header>
<main class="legal">
<h1>X Privacy Policy</h1>
<p class="effective">Effective: {effective}</p>
{body}
{previous}
</main></body></html>
"""
