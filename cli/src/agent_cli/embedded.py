"""The embedded default: all five services in one process.

In-process bus and run-event channel, in-memory state, and the offline model
served by the same HTTP server under `/offline/v1`. The handler code is the
same as in the distributed mode; only the transports differ. The vector store is
on local disk (`RAG_STORE_PATH`; or PostgreSQL when `RAG_STORE_URL` names one) and one
client is shared by the indexer, which writes it, and the orchestrator, which reads it;
the gateway serves the reindex API (`/api/reindex`) over the same bus, as it does in the
distributed mode. The orchestrator reaches the offline model over real HTTP through the `openai` SDK, exactly as
it reaches any OpenAI-compatible endpoint.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from agent_common.budgets import SpendCounter
from agent_common.rag.embeddings import build_embedder
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import open_store
from agent_common.sessions import SessionBounds
from agent_common.settings import ModelSettings, TracingSettings, production_profile
from agent_common.tracing import configure_tracing
from agent_common.transports import open_transports
from agent_common.usage import UsageSettings, load_prices
from agent_common.usage.ledger import open_ledger
from agent_common.usage.writer import LedgerWriter
from agent_gateway.app import create_app as create_gateway
from agent_gateway.settings import GatewayConfig
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.retrieval import Retriever
from agent_orchestrator.service import Orchestrator
from agent_orchestrator.settings import ModelResilienceSettings, OrchestratorSettings, SecondaryModelSettings
from agent_rag_indexer.service import RagIndexer
from agent_rag_indexer.settings import IndexerSettings
from agent_tool_runner.service import ToolRunner
from agent_tool_runner.settings import ToolRunnerSettings, ToolSettings

OFFLINE_MODEL_PATH = "/offline"


def local_address(host: str) -> str:
    """An address this process can call itself on, whatever interface it listens on."""
    try:
        unspecified = not host or ipaddress.ip_address(host).is_unspecified  # 0.0.0.0 or ::
    except ValueError:  # a host name
        unspecified = False
    return "127.0.0.1" if unspecified else host


def model_settings(host: str, port: int) -> ModelSettings:
    """The configured model endpoint, or the built-in offline model when none is set."""
    if os.environ.get("MODEL_BASE_URL"):
        return ModelSettings()
    return ModelSettings(base_url=f"http://{local_address(host)}:{port}{OFFLINE_MODEL_PATH}/v1")


def uses_offline_model() -> bool:
    return not os.environ.get("MODEL_BASE_URL")


def create_embedded_app(gateway_config: GatewayConfig | None = None, rag: RagSettings | None = None) -> FastAPI:
    config = gateway_config or GatewayConfig()
    rag = rag or RagSettings()
    configure_tracing("embedded", TracingSettings())
    host, port = config.gateway.host, config.gateway.port
    orchestrator_settings = OrchestratorSettings()
    # No bus or Redis settings: everything in this one process (REDIS_URL is not read here).
    transports = open_transports(
        None,
        None,
        client_id="embedded",
        sessions=SessionBounds(
            orchestrator_settings.session_max_turns,
            orchestrator_settings.session_ttl_s,
            orchestrator_settings.session_max_tokens,
        ),
        keys_file=config.auth.keys_file,
        budgets_file=config.budgets.file,
    )
    bus = transports.bus
    model = ResilientModel.from_settings(
        model_settings(host, port), ModelResilienceSettings(), SecondaryModelSettings()
    )
    embedder = build_embedder(rag)
    store = open_store(rag, embedder.dimensions)
    indexer = RagIndexer(
        bus=bus,
        store=store,
        embedder=embedder,
        settings=IndexerSettings(),
        roots=config.roots,  # the gateway's own: one process, one reading of the setting
        batch_size=rag.embeddings_batch_size,
    )
    indexer.register()
    # The usage ledger in a file (`USAGE_LEDGER_PATH`), or PostgreSQL when `USAGE_LEDGER_URL` names one.
    usage = UsageSettings()
    ledger = open_ledger(usage)
    orchestrator = Orchestrator.on(
        transports,
        model=model,
        settings=orchestrator_settings,
        retriever=Retriever.from_settings(rag, store, embedder),
        ledger_writer=LedgerWriter(
            ledger,
            load_prices(usage.prices_file),
            # The budgets the gateway checks: the same store, in this process.
            record_spend=SpendCounter(transports.budgets).record_spend,
            thresholds=usage.path_thresholds(),
        ),
    )
    orchestrator.register()
    tool_runner = ToolRunner(bus, ToolSettings(), ToolRunnerSettings().concurrency)
    tool_runner.register()

    @asynccontextmanager
    async def run_services() -> AsyncIterator[None]:
        # The services' own start-up and shutdown, as their processes run them; left in
        # reverse: the orchestrator drains, the transports stop, then the clients close.
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(tool_runner.running())
            await stack.enter_async_context(indexer.running())  # the embedder and the vector store
            stack.push_async_callback(model.close)
            await stack.enter_async_context(ledger)
            await stack.enter_async_context(transports)
            await stack.enter_async_context(orchestrator.running())
            yield

    app = create_gateway(
        config,
        transports=transports,
        # Readiness is the process's own transports only, as in the distributed mode (docs/reliability.md).
        run_alongside=run_services(),
        # A first look on one machine: anonymous while no API key exists, said loudly at start-up.
        # Never under PLATFORM_PROFILE=production.
        allow_anonymous_without_keys=not production_profile(),
        mounted_prefixes=[OFFLINE_MODEL_PATH] if uses_offline_model() else [],
        document_index=store,
    )
    if uses_offline_model():
        app.mount(OFFLINE_MODEL_PATH, create_offline_model())
    return app
