"""The orchestrator's own process (distributed mode): probes over HTTP, work over the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from agent_common import infra
from agent_common.probes import ReadinessCheck, probe_routes
from agent_common.run_store import MemoryRunStore, RunStore
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.retrieval import build_retriever
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import OrchestratorConfig


def build_run_store(redis: object | None) -> RunStore:
    if redis is None:
        return MemoryRunStore()
    from agent_common.run_store.redis import RedisRunStore

    return RedisRunStore(redis)  # type: ignore[arg-type]


def create_app(config: OrchestratorConfig | None = None) -> Starlette:
    config = config or OrchestratorConfig()
    infra.check_mode(config.bus, config.redis)
    checks: dict[str, ReadinessCheck] = {}

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        redis = infra.redis_client(config.redis)
        bus = infra.build_bus(config.bus, client_id="orchestrator")
        events = infra.build_run_events(redis)
        sessions = infra.build_session_store(
            redis,
            max_turns=config.service.session_max_turns,
            ttl_s=config.service.session_ttl_s,
            max_tokens=config.service.session_max_tokens,
        )
        model = ResilientModel.from_settings(config.model, config.resilience, config.secondary)
        retriever = build_retriever(config.rag)
        orchestrator = Orchestrator(
            bus=bus,
            events=events,
            sessions=sessions,
            runs=build_run_store(redis),
            model=model,
            settings=config.service,
            retriever=retriever,
        )
        orchestrator.register()
        await events.start()
        await bus.start()
        await orchestrator.start()
        checks.update(orchestrator.readiness_checks())
        try:
            yield
        finally:
            await orchestrator.stop()
            await bus.stop()
            await events.stop()
            await model.close()
            if retriever is not None:
                await retriever.close()
            if redis is not None:
                await redis.aclose()

    return Starlette(routes=probe_routes("orchestrator", lambda: checks), lifespan=lifespan)
