"""Writes that may be carried out twice, and how a store recognises the second time.

Riding through an outage sends a command again when its first attempt failed, but
that attempt may have been carried out all the same: its reply was lost, or a
paused Redis ran it on SIGCONT from a connection the client had given up. A write
that is not the same done twice (a claim, taking due work, counting a result) is
given an attempt id when it is first made, kept with its effect for
`ATTEMPT_KEPT_S`, so that its script answers a repeat as the first attempt was
answered instead of as somebody else's write.
"""

from __future__ import annotations

import uuid

ATTEMPT_KEPT_S = 300
"""How long a write's attempt id is remembered: far beyond any ride-through (seconds), short
enough that the ids of a busy store cost little."""


def attempt_id() -> str:
    """A new write's id, the same for every time it is sent."""
    return uuid.uuid4().hex
