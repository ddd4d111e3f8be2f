"""Who is running a chat request, or the step after a run's tool results, so
that exactly one replica does, and work whose replica died is recognised and
taken over.

Work is claimed before its message's offset is committed (`background_runs.py`):
its lease, what a takeover needs to restart it (the chat request; a step's
request id and number, its run's state being in the store already) and, for a
chat request, its session's turn, in one atomic step. The task renews the lease
while it works; when it is done, the lease becomes `done` for an hour, and a
redelivery that finds `done` is a duplicate. A lease nobody renews runs out
(its replica died): a sweep on every replica takes the work over, exactly one
of them (`takeover.py`). A renewal that finds the lease another's (this replica
stalled past it) stops the work where it is.

Redis going away is not the replica dying. A renewal that fails for an outage is
tried again at once (each try rides through `REDIS_RIDE_THROUGH_S` on its own), so
the lease is renewed as soon as Redis answers, taken back if it lapsed meanwhile;
and no replica takes over a lease for one lease's time after it last found Redis
away (`agent_common.run_store.redis`), which is that time for its owner to renew it.
So an outage shorter than the lease never moves a run, and a longer one moves only
the runs whose replica is really gone. Finishing the lease and ending the session's
turn ride through for a lease too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, ValidationError

from agent_common.messages import ChatRequested
from agent_common.resilience import Outage, outage_of, ride_through
from agent_common.run_store import ClaimResult, RunClaims, SessionTurn, chat_run_key
from agent_common.tasks import stop_task
from agent_orchestrator.run_state import RunState

log = logging.getLogger("agent.orchestrator")

DONE_TTL_S = 3600.0
# How soon a renewal that failed for an outage is tried again (each try rode through for a while).
OUTAGE_RENEW_S = 0.2
# How long a request and its session's turn are kept past the request's deadline: by then the
# gateway has given up and the run has stopped, so a session is never blocked for long by a lost run.
TURN_GRACE_S = 30.0


def new_owner() -> str:
    """This process, uniquely: host name and a random part (two replicas may share a host)."""
    return f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"


def keep_s(deadline_at: float) -> float:
    """How long work is kept for a takeover, and a request holds its session's turn at most."""
    return max(deadline_at - time.time(), 0) + TURN_GRACE_S


def run_key(request: ChatRequested) -> str:
    """The key a chat request's run is leased under: one per message, so a duplicate finds it."""
    return chat_run_key(request.message_id)


def step_key(request_id: str, step: int) -> str:
    """The key the step after a run's tool results is leased under."""
    return f"step:{request_id}:{step}"


class StepRef(BaseModel):
    """What a step's lease keeps for a takeover: the run's state is in the store already."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    request_id: str
    step: int


@dataclass
class HeldLease:
    """A lease this replica renews while its work runs; `lost` once another replica has it."""

    key: str
    lost: bool = field(default=False)


class Leases:
    def __init__(self, claims: RunClaims, owner: str, lease_s: float) -> None:
        self._claims = claims
        self._owner = owner
        self._lease_s = lease_s

    async def claim(self, request: ChatRequested) -> ClaimResult:
        """Take the request's run for this replica (`TAKEN`), unless it is done, held by a live
        replica, or its session's previous turn is still running (`SESSION_BUSY`: try again)."""
        turn = SessionTurn(request.session_id, request.request_id)
        payload = request.model_dump_json()
        return await self._claims.claim(
            run_key(request), payload, self._owner, self._lease_s, keep_s(request.deadline_at), turn
        )

    async def claim_step(self, state: RunState) -> ClaimResult:
        """Take the step after the run's tool results (`state` as they completed it)."""
        payload = StepRef(request_id=state.request_id, step=state.step).model_dump_json()
        key = step_key(state.request_id, state.step)
        return await self._claims.claim(key, payload, self._owner, self._lease_s, keep_s(state.deadline_at))

    async def end_turn(self, session_id: str, request_id: str) -> None:
        """The request's run ended (`done` or `error`): the session's next turn may start."""
        await ride_through(lambda: self._claims.end_turn(session_id, request_id), self._lease_s, only=Outage.REDIS)

    async def take_expired(self, limit: int) -> list[ChatRequested | StepRef]:
        """Work whose lease ran out, now this replica's (each goes to exactly one replica)."""
        taken: list[ChatRequested | StepRef] = []
        for key, payload in await self._claims.take_expired(self._owner, self._lease_s, limit):
            try:
                taken.append(
                    ChatRequested.model_validate_json(payload)
                    if key.startswith("chat:")
                    else StepRef.model_validate_json(payload)
                )
            except ValidationError:  # a corrupted key: left to run out, again, until it expires
                log.error("unreadable work kept for a takeover", extra={"lease": key})
        return taken

    @contextlib.asynccontextmanager
    async def held(self, key: str) -> AsyncIterator[HeldLease]:
        """Renew the lease in the background while the body runs, and mark it done when the
        body returns. Cut off (cancelled, as at the end of a shutdown's drain), the lease is
        freed at once for another replica; a body that raised lets it run out (a sweep retries).
        A renewal that finds another owner cancels the body: the work stops where it is, without
        a word to the client (the new owner ends the run), and the block ends quietly."""
        task = asyncio.current_task()
        if task is None:  # the renewer cancels this task when the lease is lost: there must be one
            raise RuntimeError("a lease is held from inside a task")
        lease = HeldLease(key)
        renewer = asyncio.create_task(self._renew(lease, task), name=f"lease-renewer:{key}")
        try:
            try:
                yield lease
            finally:
                await stop_task(renewer)  # first: a renewal would take the lease back
        except asyncio.CancelledError:
            if lease.lost and task.uncancel() == 0:  # the renewer's cancellation, and nobody else's
                return
            if not lease.lost:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self._claims.abandon(key, self._owner))
            raise
        if not lease.lost:
            await ride_through(lambda: self._claims.finish(key, DONE_TTL_S), self._lease_s, only=Outage.REDIS)

    async def _renew(self, lease: HeldLease, work: asyncio.Task[object]) -> None:
        every_s = self._lease_s / 3
        wait_s = every_s
        while True:
            await asyncio.sleep(wait_s)
            wait_s = every_s
            try:
                renewed = await self._claims.renew(lease.key, self._owner, self._lease_s)
            except Exception as exc:  # the next renewal may succeed before the lease runs out
                if outage_of(exc) is not None:  # Redis away: ask again as soon as it may be back
                    log.warning("could not renew a run's lease: Redis is unreachable", extra={"lease": lease.key})
                    wait_s = min(every_s, OUTAGE_RENEW_S)
                    continue
                log.warning("could not renew a run's lease", exc_info=True)
                continue
            if not renewed:
                lease.lost = True
                log.warning("the run's lease was taken over; stopping here", extra={"lease": lease.key})
                work.cancel()
                return
