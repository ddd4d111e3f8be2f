"""Privileges beyond chatting. Every valid credential may chat; a scope grants more.

Reindexing is one: it decides what every answer cites, and what the indexer reads from
its disks, so an ordinary chat key must not be enough for it. The vocabulary is closed
(a typo in `agent keys create --scope` or in a JWT's `scope` claim grants nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Scope(StrEnum):
    REINDEX = "reindex"
    """`/api/reindex`: publish reindex commands and follow their statuses."""


def known_scopes(names: Iterable[str]) -> frozenset[Scope]:
    """The names that are scopes; anything else is ignored, never an error (an identity
    provider's token carries scopes of other applications too)."""
    valid = {s.value for s in Scope}
    return frozenset(Scope(n) for n in names if n in valid)
