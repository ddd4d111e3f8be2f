"""The orchestrator as a component: its handlers on the bus and its readiness checks.

Used as-is by the orchestrator's own process and by the embedded runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from agent_common.bus import Bus
from agent_common.messages import ChatRequested, ToolCallCompleted
from agent_common.probes import ReadinessCheck
from agent_common.run_events import RunEventChannel
from agent_common.sessions import SessionStore
from agent_common.topics import CHAT_REQUESTS, TOOL_RESULTS
from agent_orchestrator.deadlines import DeadlineWatch
from agent_orchestrator.handoff import HandOff
from agent_orchestrator.leases import Leases, new_owner
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_client import ChatModel
from agent_orchestrator.retrieval import Retriever
from agent_orchestrator.runs import RunStore
from agent_orchestrator.settings import OrchestratorSettings
from agent_orchestrator.sweeps import Periodic


class Orchestrator:
    def __init__(
        self,
        *,
        bus: Bus,
        events: RunEventChannel,
        sessions: SessionStore,
        runs: RunStore,
        model: ChatModel,
        settings: OrchestratorSettings,
        retriever: Retriever | None = None,
    ) -> None:
        self.bus = bus
        self.events = events
        self.runs = runs
        self.model = model
        self.settings = settings
        self.retriever = retriever
        self.loop = AgentLoop(
            bus=bus, events=events, sessions=sessions, runs=runs, model=model, settings=settings, retriever=retriever
        )
        self.handoff = HandOff(self.loop, Leases(runs, new_owner(), settings.run_lease_s), settings.max_runs)
        self.deadlines = DeadlineWatch(self.handoff.on_tool_completed, runs, settings.tool_result_timeout_s)
        self._sweeps = (
            Periodic("tool-deadlines", settings.deadline_scan_s, self.deadlines.sweep),
            Periodic("run-takeovers", settings.takeover_scan_s, self.handoff.take_over_expired),
        )

    def register(self) -> None:
        concurrency = self.settings.concurrency
        self.bus.subscribe(
            ChatRequested, self.handoff.on_chat_requested, group=CHAT_REQUESTS.consumer_group, concurrency=concurrency
        )
        self.bus.subscribe(
            ToolCallCompleted,
            self.handoff.on_tool_completed,
            group=TOOL_RESULTS.consumer_group,
            concurrency=concurrency,
        )

    async def start(self) -> None:
        """Background work that is not a bus handler: the sweeps for overdue tool results and lost runs."""
        for sweep in self._sweeps:
            await sweep.start()

    async def stop(self) -> None:
        """Stop taking work, then let the runs in flight finish (bounded), before the bus goes."""
        self.handoff.stop_taking_over()
        for sweep in self._sweeps:
            await sweep.stop()
        await self.bus.stop_consuming()
        await self.handoff.drain(self.settings.drain_s)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Orchestrator]:
        """The orchestrator at work inside the block: enter it after the bus has started (so leaving
        stops consuming and drains the runs in flight while the bus can still publish)."""
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        checks: dict[str, ReadinessCheck] = {
            "bus": self.bus.ping,
            "state": self.runs.ping,
            "events": self.events.ping,
            "model": self.model.ping,
        }
        if self.retriever is not None:
            checks["documents"] = self.retriever.ping
        return checks
