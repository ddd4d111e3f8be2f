"""A replica that dies as its run ends loses no usage entry: the entry is on the bus before the
run's ending, and the replica that takes the run over sends one again, which the ledger stores
once. Two replicas on the embedded mode's real bus and run store, the ledger writer on a SQLite
ledger, against the offline model over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from agent_common.bus import MemoryBus
from agent_common.events import ErrorEvent, RunEvent, TokenEvent, is_terminal
from agent_common.messages import ChatRequested
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_common.usage import UsageRecorded, load_prices, record_no_spend
from agent_common.usage.ledger.sqlite import SqliteLedger
from agent_common.usage.writer import LedgerWriter
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.ownership import Leases
from agent_orchestrator.ownership.takeover import Takeover
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import OrchestratorSettings
from tests.support.web import serve_in_thread

WAIT_S = 10
PRICES = load_prices()  # the built-in file: the offline model at zero


class DyingAtTheEnding(MemoryRunEventChannel):
    """The run events of a replica that dies just as it publishes a run's ending: the ending
    never goes out, and nothing of the replica runs after it."""

    def __init__(self) -> None:
        super().__init__()
        self.dying = asyncio.Event()

    async def publish(self, event: RunEvent) -> None:
        if is_terminal(event) and not self.dying.is_set():
            self.dying.set()
            await asyncio.Event().wait()  # cancelled with the replica
        await super().publish(event)


@pytest.fixture(scope="module")
def offline() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield f"{url}/v1"


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    async with SqliteLedger(tmp_path / "usage.sqlite3") as ledger:
        yield ledger


async def test_a_replica_that_dies_as_its_run_ends_loses_no_entry_and_the_takeover_s_is_not_counted_twice(
    offline: str, ledger: SqliteLedger
) -> None:
    bus = MemoryBus(partitions=1)
    stored: asyncio.Queue[str] = asyncio.Queue()
    writer = LedgerWriter(ledger, PRICES, record_no_spend)

    async def write(message: UsageRecorded) -> None:
        await writer.on_usage_recorded(message)
        stored.put_nowait(message.request_id)

    bus.subscribe(UsageRecorded, write, group="ledger")
    events = DyingAtTheEnding()
    store = MemoryRunStore()
    sessions = MemorySessionStore(max_turns=5, ttl_s=60)
    models = [ModelClient(ModelSettings(base_url=offline)) for _ in range(2)]
    loops = [
        AgentLoop(
            bus=bus,
            events=events,
            sessions=sessions,
            saved=SavedRuns(store.states, keep_after_deadline_s=60),
            deadlines=store.deadlines,
            model=model,
            settings=OrchestratorSettings(),
        )
        for model in models
    ]
    await bus.start()
    try:
        request = ChatRequested(
            request_id="req_dies_at_ending", session_id="s", user_id="u", message="hi", deadline_at=time.time() + 30
        )
        first = asyncio.create_task(loops[0].start(request))
        await asyncio.wait_for(events.dying.wait(), WAIT_S)
        first.cancel()  # the replica is gone, its answer streamed, its ending never published
        await asyncio.gather(first, return_exceptions=True)
        sent = await events.replay(request.request_id)
        assert sent and all(isinstance(e, TokenEvent) for e in sent)

        # Its lease runs out; another replica takes the run over and ends it (as incomplete).
        takeover = Takeover(loops[1], SavedRuns(store.states, 60), events, Leases(store.claims, "b", 10))
        assert await takeover.settled(request)
        ending = (await events.replay(request.request_id))[-1]
        assert isinstance(ending, ErrorEvent)
        for _ in range(2):  # the dead replica's entry, then the takeover's
            assert await asyncio.wait_for(stored.get(), WAIT_S) == request.request_id

        entries = await ledger.month(datetime_month())
        assert [e.request_id for e in entries] == [request.request_id]
        # The one kept is the dead replica's, with the model call it made and was billed for.
        assert entries[0].outcome == "done" and entries[0].prompt_tokens > 0
    finally:
        await bus.stop()
        for model in models:
            await model.close()


def datetime_month() -> str:
    return time.strftime("%Y-%m", time.gmtime())
