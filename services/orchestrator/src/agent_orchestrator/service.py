"""The orchestrator as a component: its handlers on the bus and its readiness checks.

Used as-is by the orchestrator's own process and by the embedded runner.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TypedDict, Unpack

from agent_common import error_metrics
from agent_common.bus import Bus
from agent_common.messages import ChatRequested, ToolCallCompleted
from agent_common.probes import ReadinessCheck
from agent_common.run_events import RunEventChannel
from agent_common.run_store import RunStore
from agent_common.sessions import SessionStore
from agent_common.topics import CHAT_REQUESTS, TOOL_RESULTS
from agent_common.transports import Transports
from agent_common.usage.writer import LedgerWriter
from agent_orchestrator import metrics
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_stream import ChatModel
from agent_orchestrator.ownership import (
    BackgroundRuns,
    DeadlineWatch,
    Leases,
    Periodic,
    Takeover,
    ToolResultRecorder,
    new_owner,
)
from agent_orchestrator.retrieval import Retriever
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import OrchestratorSettings, ToolHostSettings

# How long a stopping replica waits for the usage entries still being published.
USAGE_DRAIN_S = 5.0


class Extras(TypedDict, total=False):
    """What an orchestrator may have besides its stores, model and settings."""

    retriever: Retriever | None
    link_hosts: Sequence[str] | None
    ledger_writer: LedgerWriter | None


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
        link_hosts: Sequence[str] | None = None,
        ledger_writer: LedgerWriter | None = None,
    ) -> None:
        self.bus = bus
        # The usage ledger's consumer, hosted here: this process has the bus and the database server.
        self.ledger_writer = ledger_writer
        self.events = events
        self.runs = runs
        self.model = model
        self.settings = settings
        self.retriever = retriever
        # The secondary model's series appear on its first call; the primary's and every
        # run error's exist from start-up, which is what the alerts read.
        metrics.initialise_series([model.model])
        error_metrics.initialise_series("run")
        saved = SavedRuns(runs.states, settings.run_state_ttl_s)
        if link_hosts is None:  # the embedded default: the hosts this process's environment names
            link_hosts = [*ToolHostSettings().allowlist, *settings.answer_link_hosts]
        self.loop = AgentLoop(
            bus=bus,
            events=events,
            sessions=sessions,
            saved=saved,
            deadlines=runs.deadlines,
            model=model,
            settings=settings,
            retriever=retriever,
            # Unset (the embedded default): the hosts this process's environment names.
            link_hosts=[*ToolHostSettings().allowlist, *settings.answer_link_hosts]
            if link_hosts is None
            else link_hosts,
        )
        # Who runs what, around the loop: claims, takeovers, tool results, their deadlines.
        leases = Leases(runs.claims, new_owner(), settings.run_lease_s)
        results = ToolResultRecorder(runs.tool_results, saved, events)
        self.background_runs = BackgroundRuns(
            self.loop, leases, Takeover(self.loop, saved, events, leases), results, settings.max_runs
        )
        self.deadlines = DeadlineWatch(
            self.background_runs.on_tool_completed,
            deadlines=runs.deadlines,
            saved=saved,
            results=runs.tool_results,
            timeout_s=settings.tool_result_timeout_s,
        )
        self._sweeps = (
            Periodic("tool-deadlines", settings.deadline_scan_s, self.deadlines.sweep),
            Periodic("run-takeovers", settings.takeover_scan_s, self.background_runs.take_over_expired),
        )

    @classmethod
    def on(
        cls, transports: Transports, *, model: ChatModel, settings: OrchestratorSettings, **extras: Unpack[Extras]
    ) -> Orchestrator:
        """An orchestrator on a process's transports: their bus, run events, sessions and run store."""
        return cls(
            bus=transports.bus,
            events=transports.run_events,
            sessions=transports.sessions,
            runs=transports.run_store,
            model=model,
            settings=settings,
            **extras,
        )

    def register(self) -> None:
        concurrency = self.settings.concurrency
        self.bus.subscribe(
            ChatRequested,
            self.background_runs.on_chat_requested,
            group=CHAT_REQUESTS.consumer_group,
            concurrency=concurrency,
        )
        self.bus.subscribe(
            ToolCallCompleted,
            self.background_runs.on_tool_completed,
            group=TOOL_RESULTS.consumer_group,
            concurrency=concurrency,
        )
        if self.ledger_writer is not None:
            self.ledger_writer.register(self.bus)

    async def start(self) -> None:
        """Background work that is not a bus handler: the sweeps for overdue tool results and lost runs."""
        for sweep in self._sweeps:
            await sweep.start()

    async def stop(self) -> None:
        """Stop taking work, then let the runs in flight finish (bounded), before the bus goes."""
        self.background_runs.stop_taking_over()
        for sweep in self._sweeps:
            await sweep.stop()
        await self.bus.stop_consuming()
        await self.background_runs.drain(self.settings.drain_s)
        await self.loop.usage.drain(USAGE_DRAIN_S)  # the ended runs' usage entries, while the bus still publishes

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
        """Whether this replica can take work: the bus and Redis (run state, run events).
        Not the model provider nor the document store: a run without them ends classified
        (MODEL_UNAVAILABLE) or answers without passages, and a third party's outage must
        not stall rollouts and node drains; their state is in the breaker, metrics and
        alerts (docs/reliability.md#readiness)."""
        return {"bus": self.bus.ping, "state": self.runs.ping, "events": self.events.ping}
