"""The orchestrator's own process (distributed mode): probes over HTTP, work over the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from starlette.applications import Starlette

from agent_common.budgets import SpendCounter
from agent_common.metrics_server import serving_metrics
from agent_common.probes import ReadinessCheck, all_pass, probe_routes
from agent_common.rag.required import check_shared_store
from agent_common.sessions import SessionBounds
from agent_common.start_up_heap import start_up_heap_frozen
from agent_common.transports import check_mode, open_transports
from agent_common.usage import load_prices
from agent_common.usage.ledger import open_ledger, writes_ledger
from agent_common.usage.writer import LedgerWriter
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.retrieval import build_retriever
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import OrchestratorConfig


def create_app(config: OrchestratorConfig | None = None) -> Starlette:
    config = config or OrchestratorConfig()
    check_mode(config.bus, config.redis)
    check_shared_store(config.rag, config.bus, "reader")
    prices = load_prices(config.usage.prices_file)  # a broken price file stops the start, naming what is wrong
    checks: dict[str, ReadinessCheck] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service = config.service
        transports = open_transports(
            config.bus,
            config.redis,
            client_id="orchestrator",
            sessions=SessionBounds(service.session_max_turns, service.session_ttl_s, service.session_max_tokens),
        )
        model = ResilientModel.from_settings(config.model, config.resilience, config.secondary)
        retriever = build_retriever(config.rag) if config.rag.enabled else None
        ledger = open_ledger(config.usage) if writes_ledger(config.usage, config.bus) else None
        orchestrator = Orchestrator.on(
            transports,
            model=model,
            settings=service,
            retriever=retriever,
            link_hosts=config.answer_link_hosts(),
            ledger_writer=LedgerWriter(
                ledger,
                prices,
                # Each new entry's spend counts against its tenant's and key's budgets, in Redis.
                record_spend=SpendCounter(transports.budgets).record_spend,
                thresholds=config.usage.path_thresholds(),
            )
            if ledger
            else None,
        )
        orchestrator.register()
        # No run taken before this replica can do one: a release that cannot reach its Redis
        # would hold its share of `chat.requests` until it was gone (docs/reliability.md#readiness).
        transports.bus.consume_when(all_pass(orchestrator.readiness_checks()))
        async with AsyncExitStack() as stack:
            # First in, last out: scraped from start-up to the end of the drain.
            app.state.metrics_port = await stack.enter_async_context(
                serving_metrics(service.host, config.metrics.port_for(service.port))
            )
            # Left in reverse: stop consuming and drain the runs, stop the bus and the channel,
            # close the pool, then the ledger, the model's and the document store's clients.
            if retriever is not None:
                stack.push_async_callback(retriever.close)
            stack.push_async_callback(model.close)
            if ledger is not None:  # connected before the bus delivers, closed after it has stopped
                await stack.enter_async_context(ledger)
            await stack.enter_async_context(transports)
            await stack.enter_async_context(orchestrator.running())
            checks.update(orchestrator.readiness_checks(), consuming=transports.bus.consuming)
            await stack.enter_async_context(start_up_heap_frozen())  # last: all of start-up is in it
            yield

    return Starlette(routes=probe_routes("orchestrator", lambda: checks), lifespan=lifespan)
