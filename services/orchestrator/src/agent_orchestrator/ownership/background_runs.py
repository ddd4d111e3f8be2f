"""A replica's runs in the background: chat requests leave the consumer as soon as
their run is safely taken.

A consumer handles one message per partition at a time, so a handler that ran
the whole model call would cap the platform's concurrent runs at the partition
count, whatever the number of replicas. Instead the handler claims the run
(its lease, the request kept for whoever must restart it, its session's turn)
in one atomic step, starts it in a background task and returns, so the offset
is committed and the next message is taken. The task renews the lease while
the run streams. The run's first reads are issued right behind the claim, before
its answer, and go out as soon as it comes (`OpeningReads`).

Bounds, per replica: at most `max_runs` runs at once. When all are busy the
handler waits for one to end, so the consumer stops fetching and the backlog
stays in Kafka, where another replica can take it, instead of piling up here.

Per-session order: chat requests are keyed by session id, so one session's
turns arrive in order on one partition; the session's turn (held from the claim
until the run's `done` or `error`, tool calls included) makes the handler wait
for the previous turn to end before the next one starts, on whichever replica.

The tool result that completes a run's step starts its next step the same
way, in the same slots, under a lease of its own.

A committed request is never redelivered, so a replica that dies mid-run leaves
its run to the others: every replica sweeps for runs whose lease ran out and
takes them over under the rules a redelivery follows (`takeover.py`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from agent_common.logs import bind_ids
from agent_common.messages import ChatRequested, ToolCallCompleted
from agent_common.run_store import ClaimResult
from agent_orchestrator import metrics
from agent_orchestrator.loop import AgentLoop, RunOpening, StepOutcome
from agent_orchestrator.ownership.leases import Leases, StepRef, run_key, step_key
from agent_orchestrator.ownership.takeover import RunTraces, Takeover
from agent_orchestrator.ownership.tool_results import ToolResultRecorder
from agent_orchestrator.run_state import RunState

log = logging.getLogger("agent.orchestrator")

# How often a handler looks again whether the session's previous turn has ended.
SESSION_POLL_S = 0.05

T = TypeVar("T")


class BackgroundRuns:
    def __init__(
        self, loop: AgentLoop, leases: Leases, takeover: Takeover, results: ToolResultRecorder, max_runs: int
    ) -> None:
        self._loop = loop
        self._leases = leases
        self._takeover = takeover
        self._results = results
        self._slots = asyncio.Semaphore(max_runs)
        self._running: set[asyncio.Task[None]] = set()
        self._taking_over = True

    async def on_chat_requested(self, msg: ChatRequested) -> None:
        """The bus handler: returns once the run is claimed and started (or is somebody else's)."""
        with bind_ids(request_id=msg.request_id, session_id=msg.session_id, user_id=msg.user_id):
            waiting = False
            while True:
                # All slots busy: wait here, so the consumer fetches no more.
                claim = partial(self._claim, msg, read=not waiting)
                found, reads = await self._holding_a_slot(claim, lambda f: f[0] is ClaimResult.TAKEN)
                if found is ClaimResult.TAKEN:
                    self._start(msg, reads)
                    return
                if found in (ClaimResult.DONE, ClaimResult.HELD):
                    # Done: answered already. Held: a live replica runs it, and the sweep
                    # takes it over should that replica die.
                    log.info("duplicate chat request ignored", extra={"message_id": msg.message_id, "lease": found})
                    return
                if not waiting:
                    log.info("waiting for the session's previous turn to end")
                    waiting = True
                await asyncio.sleep(SESSION_POLL_S)

    async def _claim(self, msg: ChatRequested, *, read: bool) -> tuple[ClaimResult, OpeningReads | None]:
        """The claim, and with `read` the run's first reads right behind it (kept only when taken).
        After a wait for the session, the run reads once its claim is answered: a claim tried
        every `SESSION_POLL_S` would otherwise read the history each time."""
        claiming = self._leases.claim(msg)
        reads = OpeningReads.behind_the_claim(self._takeover, self._loop, msg) if read else None
        try:
            found = await claiming
        except BaseException:
            if reads is not None:
                reads.cancel()
            raise
        if found is not ClaimResult.TAKEN and reads is not None:  # read for nothing: not ours, or not yet
            reads.cancel()
            reads = None
        return found, reads

    async def on_tool_completed(self, msg: ToolCallCompleted) -> None:
        """The bus handler for tool results: the one that completes its step claims the run's
        next step and starts it in the background, in one of the same slots, and returns. A
        redelivered result of a complete step tries the claim too: the replica that completed
        the step may have died before it claimed the next one."""
        state = await self._results.record(msg)
        if state is None:
            return
        with bind_ids(request_id=state.request_id, session_id=state.session_id, user_id=state.user_id):
            found = await self._holding_a_slot(lambda: self._leases.claim_step(state), lambda f: f is ClaimResult.TAKEN)
            if found is not ClaimResult.TAKEN:  # a redelivered result: the step is someone's, or done
                log.info("the step after the tools is claimed already", extra={"lease": found, "step": state.step})
                return
            self._spawn(self._continue(state), name=f"run:{state.request_id}:{state.step + 1}")

    async def take_over_expired(self) -> int:
        """The sweep: take over runs whose lease ran out (their replica died), while slots are free."""
        taken = 0
        # `locked()` is also true while handlers wait for a slot: new requests go first.
        while self._taking_over and not self._slots.locked():
            expired = await self._holding_a_slot(lambda: self._leases.take_expired(limit=1), bool)
            if not expired:
                break
            work = expired[0]
            log.warning("run taken over from a replica that stopped renewing its lease", extra=_ids(work))
            metrics.RUN_TAKEOVERS.inc()
            if isinstance(work, ChatRequested):
                self._start(work)
            else:
                self._spawn(self._continue_taken_over(work), name=f"run:{work.request_id}:{work.step + 1}")
            taken += 1
        return taken

    def stop_taking_over(self) -> None:
        """Shutting down: leave expired runs to the replicas that stay."""
        self._taking_over = False

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait for the runs in flight to end; after `timeout_s`, cut the rest off: their
        leases are freed at once, so another replica takes them over."""
        give_up_at = None if timeout_s is None else time.monotonic() + timeout_s
        while self._running:
            left = None if give_up_at is None else give_up_at - time.monotonic()
            if left is not None and left <= 0:
                log.warning(
                    "runs still in flight after the drain; handing them over",
                    extra={"runs": len(self._running), "in_flight": [_where(task) for task in self._running]},
                )
                cut = set(self._running)
                for task in cut:
                    task.cancel()
                await asyncio.gather(*cut, return_exceptions=True)
                return
            await asyncio.wait(set(self._running), timeout=left)

    async def _holding_a_slot(self, claim: Callable[[], Awaitable[T]], started: Callable[[T], bool]) -> T:
        """Make `claim` holding one of the replica's slots. The slot goes with the run when one
        is started (its task releases it as the run ends); otherwise it is released here."""
        await self._slots.acquire()
        try:
            result = await claim()
        except BaseException:
            self._slots.release()
            raise
        if not started(result):
            self._slots.release()
        return result

    def _start(self, msg: ChatRequested, reads: OpeningReads | None = None) -> None:
        self._spawn(self._run(msg, reads), name=f"run:{msg.request_id}")

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` in the background in the slot acquired for it, released when it ends."""
        task = asyncio.create_task(work, name=name)
        self._running.add(task)
        metrics.RUNS_IN_FLIGHT.inc()
        task.add_done_callback(self._release)

    def _release(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        metrics.RUNS_IN_FLIGHT.dec()
        self._slots.release()

    async def _run(self, msg: ChatRequested, reads: OpeningReads | None) -> None:
        with bind_ids(request_id=msg.request_id, session_id=msg.session_id, user_id=msg.user_id):
            try:
                async with self._leases.held(run_key(msg)):
                    if reads is None:  # claimed after a wait, or taken over: the claim is answered
                        reads = OpeningReads.behind_the_claim(self._takeover, self._loop, msg)
                    try:
                        if await self._takeover.settled(msg, reads.traces):
                            return
                        await self._ended(await self._loop.start(msg, reads.opening), msg.session_id, msg.request_id)
                    finally:
                        reads.cancel()  # settled, or stopped: not needed
            except Exception:  # its lease runs out, and a sweep tries the run again under the takeover rules
                log.exception("run stopped unexpectedly; left to the sweep")

    async def _continue(self, state: RunState) -> None:
        with bind_ids(request_id=state.request_id, session_id=state.session_id, user_id=state.user_id):
            try:
                async with self._leases.held(step_key(state.request_id, state.step)):
                    await self._after_tools(state)
            except Exception:  # its lease runs out, and a sweep tries the step again under the takeover rules
                log.exception("run's next step stopped unexpectedly; left to the sweep")

    async def _continue_taken_over(self, step: StepRef) -> None:
        with bind_ids(request_id=step.request_id):
            try:
                async with self._leases.held(step_key(step.request_id, step.step)):
                    state = await self._takeover.step_to_resume(step)
                    if state is not None:
                        with bind_ids(session_id=state.session_id, user_id=state.user_id):
                            await self._after_tools(state)
            except Exception:
                log.exception("run's next step stopped unexpectedly; left to the sweep")

    async def _after_tools(self, state: RunState) -> None:
        outcome = await self._loop.continue_after_tools(state, await self._results.outcomes(state))
        await self._ended(outcome, state.session_id, state.request_id)

    async def _ended(self, outcome: StepOutcome, session_id: str, request_id: str) -> None:
        if outcome is StepOutcome.ENDED:  # the session's next turn may start, on whichever replica
            await self._leases.end_turn(session_id, request_id)


def _ids(work: ChatRequested | StepRef) -> dict[str, str]:
    if isinstance(work, ChatRequested):
        return {"request_id": work.request_id, "session_id": work.session_id}
    return {"request_id": work.request_id, "step": str(work.step)}


def _where(task: asyncio.Task[None]) -> str:
    """A run's task and where it waits (`run:<request id>[:<step>] at loop.py:123 < ...`), innermost first."""
    frames = [f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}" for frame in task.get_stack()]
    return f"{task.get_name()} at {' < '.join(reversed(frames[-4:]))}"


@dataclass(frozen=True)
class OpeningReads:
    """A run's reads before its first model call, under way: what an earlier start left (the
    takeover check's) and what its first step reads (the session's history, its audience)."""

    traces: asyncio.Future[RunTraces]
    opening: asyncio.Future[RunOpening]

    @classmethod
    def behind_the_claim(cls, takeover: Takeover, loop: AgentLoop, msg: ChatRequested) -> OpeningReads:
        """The reads, started as tasks: made where the claim is awaited next (or answered), they
        send their commands after its command. On the process's one Redis connection, commands
        go in the order they are issued (`transports/redis_multiplexed.py`), so Redis runs the
        reads after the claim, and the history read sees the session's previous turn whole: its
        turn was over when the claim took it. With one round trip out at a time, they go out
        together the moment the claim is answered, not after the handler's return and the run
        task's start."""
        reads = cls(
            asyncio.ensure_future(takeover.traces(msg.request_id)), asyncio.ensure_future(loop.read_opening(msg))
        )
        reads.traces.add_done_callback(_unread_failure_is_starts)
        reads.opening.add_done_callback(_unread_failure_is_starts)
        return reads

    def cancel(self) -> None:
        self.traces.cancel()
        self.opening.cancel()


def _unread_failure_is_starts(task: asyncio.Future[Any]) -> None:
    """A failed opening read is the run's to handle, or nobody's (the run was settled, or not
    ours): either way, never reported as an exception nobody retrieved."""
    if not task.cancelled():
        task.exception()
