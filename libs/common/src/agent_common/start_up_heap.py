"""The objects a service made while starting (modules, routes, schemas, clients), set aside from
the garbage collector while it serves; and how often the collector looks at what requests make.

A service's heap after start-up holds some 150,000 objects that live as long as the
process. CPython's full collections walk all of them again and again: measured under
load, one full pass cost the gateway about 75 ms of CPU, with its event loop stopped
for as long, so a stream's next token waited too. Frozen (`gc.freeze`), they are no
longer walked; what requests allocate is collected as before. Leaving the context
gives them back to the collector, so a process that starts and stops apps (the tests)
keeps nothing of an app that stopped.

While it serves, the collector's youngest generation is looked at after 10,000 new objects
rather than CPython's 700. At 50 streams a gateway made a young collection every few
requests: each walked the live streams' objects (their tasks, frames, buffers) again and
moved them to an older generation, whose own passes (5 ms each, every ten young ones)
walked them once more, though nearly all of them died within the second. With the larger
bound most of them die before a pass, and the passes left are fewer and no longer than
the older generation's were. Measured in docs/benchmarks.md ("The collector's young
generation").
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

# New objects (allocations less deallocations) between two passes over the youngest generation.
YOUNG_OBJECTS = 10_000


@asynccontextmanager
async def start_up_heap_frozen() -> AsyncIterator[None]:
    """Entered once start-up is done: start-up's garbage collected, the rest frozen and the young
    generation's bound raised until exit."""
    gc.collect()  # start-up's own garbage goes first, or it would be kept for the process's life
    gc.freeze()
    thresholds = gc.get_threshold()
    if thresholds[0]:  # 0: collection is off, and stays off
        gc.set_threshold(max(YOUNG_OBJECTS, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
