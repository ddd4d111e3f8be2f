"""A replica that dies as its run ends loses no usage entry: the entry is on the bus before the
run's ending, and the replica that takes the run over sends one again, which the ledger stores
once. Two replicas sharing a run store, the ledger writer on a SQLite ledger, against the offline
model over HTTP, over the embedded mode's bus and over a real Kafka."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from agent_common.bus import Bus, MemoryBus
from agent_common.bus.kafka import KafkaBus
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

WAIT_S = 30  # a new Kafka group's first assignment takes seconds
PRICES = load_prices()  # the built-in file: the offline model at zero


class DyingAtTheEnding(MemoryRunEventChannel):
    """The run events of a replica that dies just as it publishes a run's ending: the ending
    never goes out, and nothing of the replica runs after it."""

    def __init__(self) -> None:
        super().__init__()
        self.dying = asyncio.Event()

    async def publish(self, event: RunEvent) -> RunEvent:
        if is_terminal(event) and not self.dying.is_set():
            self.dying.set()
            await asyncio.Event().wait()  # cancelled with the replica
        return await super().publish(event)


@pytest.fixture(scope="module")
def offline() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield f"{url}/v1"


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SqliteLedger]:
    async with SqliteLedger(tmp_path / "usage.sqlite3") as ledger:
        yield ledger


@pytest.fixture(params=["memory", pytest.param("kafka", marks=pytest.mark.kafka)])
async def buses(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Bus, Bus]]:
    """The bus the replicas publish on, and the one the ledger writer consumes from (the same
    object in the embedded mode; two clients of one Kafka cluster, as processes have)."""
    if request.param == "memory":
        bus = MemoryBus(partitions=1)
        yield bus, bus
        return
    bootstrap = request.getfixturevalue("kafka_bootstrap")
    run = uuid.uuid4().hex[:8]
    yield KafkaBus(bootstrap, client_id=f"replicas-{run}"), KafkaBus(bootstrap, client_id=f"ledger-{run}")


async def test_a_replica_that_dies_as_its_run_ends_loses_no_entry_and_the_takeover_s_is_not_counted_twice(
    offline: str, ledger: SqliteLedger, buses: tuple[Bus, Bus]
) -> None:
    bus, consumer = buses
    request_id = f"req_dies_at_ending_{uuid.uuid4().hex[:8]}"
    stored: asyncio.Queue[str] = asyncio.Queue()
    writer = LedgerWriter(ledger, PRICES, record_no_spend)

    async def write(message: UsageRecorded) -> None:
        if message.request_id == request_id:  # a Kafka group of its own reads other tests' entries too
            await writer.on_usage_recorded(message)
            stored.put_nowait(message.request_id)

    consumer.subscribe(UsageRecorded, write, group=f"ledger-{request_id}")
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
    async with AsyncExitStack() as stack:
        for started in {id(b): b for b in (bus, consumer)}.values():
            await started.start()
            stack.push_async_callback(started.stop)
        for model in models:
            stack.push_async_callback(model.close)
        request = ChatRequested(
            request_id=request_id, session_id="s", user_id="u", message="hi", deadline_at=time.time() + 30
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


def datetime_month() -> str:
    return time.strftime("%Y-%m", time.gmtime())
