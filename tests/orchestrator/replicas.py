"""Two orchestrator replicas over shared in-memory stores, against the offline model over HTTP:
what the tests of runs that lose a part (a replica, a tool result, a lease) are written against;
and a replica over a real Redis, as its process starts it (`redis_replica`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from agent_common.bus import MemoryBus
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.run_store.memory import MemoryRunClaims
from agent_common.sessions import MemorySessionStore, SessionBounds
from agent_common.settings import ModelSettings, RedisSettings
from agent_common.transports import Transports, open_transports
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.ownership import DeadlineWatch, ToolResultRecorder, run_key
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import OrchestratorSettings


class Replicas:
    """Two orchestrator replicas sharing one run store, event channel and bus."""

    def __init__(self, model_url: str, lease_s: float = 10.0) -> None:
        self.bus = MemoryBus(partitions=1)
        self.events = MemoryRunEventChannel()
        self.store = MemoryRunStore()
        self.sessions = MemorySessionStore(max_turns=5, ttl_s=60)
        self.models = [ModelClient(ModelSettings(base_url=model_url)) for _ in range(2)]
        settings = OrchestratorSettings(run_lease_s=lease_s, tool_result_timeout_s=0.2, max_runs=10)
        orchestrators = [
            Orchestrator(
                bus=self.bus, events=self.events, sessions=self.sessions, runs=self.store, model=m, settings=settings
            )
            for m in self.models
        ]
        self.loops = [o.loop for o in orchestrators]
        self.background_runs = [o.background_runs for o in orchestrators]
        self.saved = SavedRuns(self.store.states, settings.run_state_ttl_s)
        self.results = ToolResultRecorder(self.store.tool_results, self.saved, self.events)
        assert isinstance(self.store.claims, MemoryRunClaims)
        self.claims = self.store.claims
        self.tool_calls: asyncio.Queue[ToolCallRequested] = asyncio.Queue()

        async def collect(call: ToolCallRequested) -> None:
            self.tool_calls.put_nowait(call)

        self.bus.subscribe(ToolCallRequested, collect, group="test")

    async def deliver(self, replica: int, request: ChatRequested) -> None:
        """The consumer of `replica` handles `request`; wait for the run it handed off."""
        await self.background_runs[replica].on_chat_requested(request)
        await self.background_runs[replica].drain()

    def die(self, request: ChatRequested | str) -> None:
        """The replica holding the lease on `request` (or on the key) is gone: nobody renews it,
        and it runs out."""
        self.claims._leases.pop(request if isinstance(request, str) else run_key(request))

    async def sweep(self, replica: int) -> int:
        """One takeover sweep on `replica`, waiting for the runs it took over."""
        taken = await self.background_runs[replica].take_over_expired()
        await self.background_runs[replica].drain()
        return taken

    async def close(self) -> None:
        await self.bus.stop()
        for model in self.models:
            await model.close()


def deadline_watch(replicas: Replicas, feed: Callable[[ToolCallCompleted], Awaitable[None]]) -> DeadlineWatch:
    """A replica's sweep for overdue tool results, feeding what it times out to `feed`."""
    return DeadlineWatch(
        feed,
        deadlines=replicas.store.deadlines,
        saved=replicas.saved,
        results=replicas.store.tool_results,
        timeout_s=0.2,
    )


def chat(message: str) -> ChatRequested:
    return ChatRequested(
        request_id=f"req_{time.monotonic_ns()}",
        session_id="ses_recovery01",
        user_id="u1",
        message=message,
        deadline_at=time.time() + 30,
    )


def page_result(call: ToolCallRequested) -> ToolCallCompleted:
    return ToolCallCompleted(
        request_id=call.request_id,
        session_id=call.session_id,
        user_id=call.user_id,
        call_id=call.call_id,
        tool=call.tool,
        outcome=ToolOutcome(ok=True, output={"url": "http://docs.test/step", "status": 200, "text": "the page"}),
    )


@dataclass
class RedisReplica:
    orchestrator: Orchestrator
    transports: Transports


@contextlib.asynccontextmanager
async def redis_replica(redis_url: str, model_url: str, bound_s: float) -> AsyncIterator[RedisReplica]:
    """An orchestrator replica over a real Redis as its process starts it, sweeping for lost runs."""
    transports = open_transports(
        None, RedisSettings(url=redis_url, ride_through_s=bound_s), client_id="orchestrator", sessions=SessionBounds()
    )
    model = ModelClient(ModelSettings(base_url=model_url))
    orchestrator = Orchestrator.on(
        transports,
        model=model,
        settings=OrchestratorSettings(run_lease_s=2.0, takeover_scan_s=0.2, max_runs=4),
        link_hosts=[],
    )
    try:
        async with transports, orchestrator.running():
            yield RedisReplica(orchestrator, transports)
    finally:
        await model.close()
