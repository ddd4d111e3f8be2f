"""Identifiers: sortable, URL-safe and unguessable."""

from __future__ import annotations

import re
import secrets
import time

_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def new_id(prefix: str = "") -> str:
    """A time-ordered random id: 10 hex digits of milliseconds, then 16 random hex digits."""
    return f"{prefix}{int(time.time() * 1000):010x}{secrets.token_hex(8)}"


def is_valid_id(value: str) -> bool:
    """Ids that arrive from clients (session ids, request ids) must match this shape."""
    return bool(_ID_PATTERN.fullmatch(value))
