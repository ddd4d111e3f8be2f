"""What a piece of work leaves to the garbage collector: objects that only a reference cycle keeps.

Reference counting frees everything else the moment it is let go. Cyclic garbage waits for the
collector, whose passes walk every young object, the live ones too, and move the survivors to an
older generation to be walked again: a hot path that leaves cycles behind pays for them in every
request's CPU and in pauses of the whole event loop (docs/benchmarks.md, "The collector's young
generation"). So the paths that run once a request are checked to leave none.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_garbage() -> Iterator[list[object]]:
    """The objects the block made and left in reference cycles, in the list it is given once it
    ends. The collector is off inside the block, so nothing is collected before it is counted."""
    enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    # Held until the end: what existed before the block (an earlier test's connection closing late,
    # say) can neither become garbage inside it nor have its address taken by something new.
    existing = gc.get_objects()
    known = {id(o) for o in existing}
    left: list[object] = []
    try:
        yield left
    finally:
        gc.set_debug(gc.DEBUG_SAVEALL)  # what a pass finds unreachable is kept in `gc.garbage`, to be named
        try:
            gc.collect()
            left.extend(o for o in gc.garbage if id(o) not in known)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
            del existing
            if enabled:
                gc.enable()


def described(objects: list[object], most: int = 12) -> str:
    """The most common kinds among `objects`, for an assertion's message."""
    kinds = Counter(type(o).__qualname__ for o in objects)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common(most))
