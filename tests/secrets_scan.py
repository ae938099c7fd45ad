"""Proof that no secret leaked: every byte the tool wrote or printed is searched for each secret, raw and
in the encodings a leak would take (URL-encoded, JSON-escaped, base64)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus


def _variants(secret: str) -> set[bytes]:
    forms = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1]}
    encoded = {f.encode() for f in forms if f}
    encoded.add(base64.b64encode(secret.encode()).rstrip(b"="))
    return encoded


def find_leaks(secrets: Iterable[str], files: Iterable[Path] = (), texts: Iterable[str] = ()) -> list[str]:
    """Where each secret was found, as 'file: secret-name' lines; empty means clean."""
    needles = {s: _variants(s) for s in secrets if s and len(s) >= 6}
    leaks = []
    blobs = [(str(p), p.read_bytes()) for p in files] + [(f"output#{i}", t.encode()) for i, t in enumerate(texts)]
    for where, blob in blobs:
        for secret, variants in needles.items():
            if any(v in blob for v in variants):
                leaks.append(f"{where}: secret starting {secret[:2]!r}")
    return leaks
