"""The objects a service made while starting (modules, routes, schemas, clients), set aside from
the garbage collector while it serves.

A service's heap after start-up holds some 150,000 objects that live as long as the
process. CPython's full collections walk all of them again and again: measured under
load, one full pass cost the gateway about 75 ms of CPU, with its event loop stopped
for as long, so a stream's next token waited too. Frozen (`gc.freeze`), they are no
longer walked; what requests allocate is collected as before. Leaving the context
gives them back to the collector, so a process that starts and stops apps (the tests)
keeps nothing of an app that stopped.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def start_up_heap_frozen() -> AsyncIterator[None]:
    """Entered once start-up is done: start-up's garbage collected, the rest frozen until exit."""
    gc.collect()  # start-up's own garbage goes first, or it would be kept for the process's life
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
