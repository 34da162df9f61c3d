"""Content hashes: canonical JSON → short sha256. Used for run ids and cache keys."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def content_hash(obj: Any, n: int = 16) -> str:
    """Same data ⇒ same hash, whatever the key order. `n` hex digits."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:n]


def file_hash(path, n: int = 16, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:n]
