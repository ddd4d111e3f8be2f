"""Who is working on a chat request, so a redelivery is recognised for what it is.

Kafka redelivers a message whose offset was not committed: after a consumer
died mid-run, or after one finished the work but died before the commit. A
lease tells the two apart. The handler takes the message's lease and renews it
while it works; when it is done, the lease becomes `done` for an hour. A
redelivery that finds `done` is a duplicate and is dropped. One that finds a
live lease waits for it to be released or to expire (its owner died: nobody
renews it), then takes the message over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agent_orchestrator.runs import Lease, RunStore

log = logging.getLogger("agent.orchestrator")

DONE_TTL_S = 3600.0


def new_owner() -> str:
    """This process, uniquely: host name and a random part (two replicas may share a host)."""
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


class LeaseLost(Exception):
    """Another replica took the message over: this one stops without a word to the client."""


@dataclass
class HeldLease:
    key: str
    lost: bool = field(default=False)

    def check(self) -> None:
        if self.lost:
            raise LeaseLost(self.key)


class Leases:
    def __init__(self, runs: RunStore, owner: str, lease_s: float) -> None:
        self._runs = runs
        self._owner = owner
        self._lease_s = lease_s

    async def acquire(self, key: str) -> bool:
        """True when this replica now holds `key`; false when the message was already handled.
        Waits (bounded by twice the lease) while another live owner holds it."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + 2 * self._lease_s
        while True:
            found = await self._runs.begin(key, self._owner, self._lease_s)
            if found is Lease.TAKEN:
                return True
            if found is Lease.DONE or loop.time() > give_up_at:
                return False
            await asyncio.sleep(min(0.5, self._lease_s / 4))  # another replica holds it: wait for done or expiry

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[HeldLease]:
        """Renew the lease in the background while the body runs; mark it done at the end."""
        lease = HeldLease(key)
        renewer = asyncio.create_task(self._renew(lease))
        try:
            yield lease
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            if not lease.lost:
                await self._runs.finish(key, DONE_TTL_S)

    async def _renew(self, lease: HeldLease) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            try:
                renewed = await self._runs.renew(lease.key, self._owner, self._lease_s)
            except Exception:  # a blip: the next renewal may succeed before the lease runs out
                log.warning("could not renew a run's lease", exc_info=True)
                continue
            if not renewed:
                lease.lost = True
                log.warning("the run's lease was taken over; stopping here", extra={"lease": lease.key})
                return
