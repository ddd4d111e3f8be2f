"""What a prompt pays for besides the question: the session's history within
`ORCHESTRATOR_PROMPT_HISTORY_TOKENS` (the newest turns whole, the oldest left out, the session
itself unchanged) and the retrieved passages within `RAG_PROMPT_TOKENS` (the best-ranked that
fit, the best always), as the model receives them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
from qdrant_client import AsyncQdrantClient

from agent_common.bus import MemoryBus
from agent_common.events import DoneEvent
from agent_common.messages import ChatRequested
from agent_common.rag.context import parse_passages
from agent_common.rag.records import ChunkRecord
from agent_common.rag.settings import RagSettings
from agent_common.rag.store import VectorStore
from agent_common.rag.store.local import LocalVectorStore
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore, Turn
from agent_common.settings import ModelSettings
from agent_common.token_estimate import estimate_tokens
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.conversation import build_messages
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.retrieval import Retriever, passage_tokens
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import OrchestratorSettings
from tests.support.web import serve_in_thread

HISTORY_BUDGET = 400
TURNS = 30


class Recording:
    """The offline model, keeping the body of every chat-completions request it is sent."""

    def __init__(self) -> None:
        self.app = create_offline_model()
        self.prompts: list[list[dict[str, Any]]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat/completions"):
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.prompts.append(orjson.loads(body)["messages"])
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:  # then only a disconnect could come: none will
                await asyncio.Event().wait()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@pytest.fixture(scope="module")
def recording() -> Iterator[tuple[Recording, str]]:
    model = Recording()
    with serve_in_thread(model) as url:
        yield model, f"{url}/v1"


def message(turn: int) -> str:
    return f"Turn {turn}: " + " ".join(f"word{turn}x{n}" for n in range(12))


async def test_the_prompt_of_turn_30_holds_the_latest_turns_whole_within_the_history_budget(
    recording: tuple[Recording, str],
) -> None:
    model, url = recording
    sessions = MemorySessionStore(max_turns=40, ttl_s=60, max_tokens=100_000)
    events = MemoryRunEventChannel()
    store = MemoryRunStore()
    client = ModelClient(ModelSettings(base_url=url))
    loop = AgentLoop(
        bus=MemoryBus(),
        events=events,
        sessions=sessions,
        saved=SavedRuns(store.states, keep_after_deadline_s=60),
        deadlines=store.deadlines,
        model=client,
        settings=OrchestratorSettings(prompt_history_tokens=HISTORY_BUDGET),
    )
    try:
        for turn in range(1, TURNS + 1):
            request = ChatRequested(
                request_id=f"req_{turn}",
                session_id="s",
                user_id="u",
                message=message(turn),
                deadline_at=time.time() + 30,
            )
            await loop.start(request)
            assert isinstance((await events.replay(request.request_id))[-1], DoneEvent)
    finally:
        await client.close()
    prompt = model.prompts[-1]
    history = prompt[1:-1]
    assert prompt[-1]["content"] == message(TURNS)
    assert sum(estimate_tokens(m["content"]) for m in history) <= HISTORY_BUDGET
    # The newest turns, each whole (a question and its answer), in order; the oldest left out.
    users = [m["content"] for m in history if m["role"] == "user"]
    assert users == [message(t) for t in range(TURNS - len(users), TURNS)] and 3 <= len(users) < TURNS - 1
    assert [m["role"] for m in history] == ["user", "assistant"] * len(users)
    # The session keeps every turn: what the user sees of the conversation is not trimmed.
    assert len(await sessions.history("s")) == TURNS


def test_the_newest_turn_is_sent_however_long() -> None:
    long = Turn.of("r1", user="long " * 2000, assistant="ok")
    short = Turn.of("r0", user="short", assistant="ok")
    messages = build_messages("system", [short, long], "next", history_tokens=100)
    assert [m["content"] for m in messages] == ["system", long.user, "ok", "next"]


# Five passages of different documents, ranked in order by cosine (each about 100 tokens).
def passage_record(rank: int) -> ChunkRecord:
    return ChunkRecord(
        tenant="default",
        source="handbook",
        doc_id=f"handbook-{rank}.md",
        title=f"Handbook {rank}",
        version="v1",
        last_updated="2026-01-01",
        language="en",
        checksum=f"c{rank}",
        chunk_index=0,
        text=f"Passage {rank} on vacation. " + "Paid leave is described at length here. " * 12,
    )


class RankedEmbedder:
    name = "ranked"
    dimensions = 2

    async def passages(self, texts: list[str]) -> list[list[float]]:
        return [[1.0, 0.02 * int(t.split()[1])] for t in texts]

    async def query(self, text: str) -> list[float]:
        return [1.0, 0.0]

    async def close(self) -> None:
        pass


@pytest.fixture
async def passages() -> AsyncIterator[VectorStore]:
    store = LocalVectorStore(AsyncQdrantClient(location=":memory:"), "documents", RankedEmbedder.dimensions)
    records = [passage_record(rank) for rank in range(1, 6)]
    live = await store.ensure_live()
    await store.upsert(live, records, await RankedEmbedder().passages([r.text for r in records]))
    yield store
    await store.close()


async def test_the_passages_in_the_prompt_are_the_best_ranked_that_fit_the_passage_budget(
    passages: VectorStore,
) -> None:
    everything = await Retriever(passages, RankedEmbedder(), top_k=5, threshold=0.8).retrieve("vacation?")
    assert [c.marker for c in everything.citations] == [1, 2, 3, 4, 5]
    budget = int(passage_tokens(passage_record(1)) * 2.5)
    retriever = Retriever.from_settings(RagSettings(top_k=5, prompt_tokens=budget), passages, RankedEmbedder())
    capped = await retriever.retrieve("vacation?")
    assert capped.context is not None
    sent = parse_passages(capped.context)
    assert [marker for marker, _, _ in sent] == [1, 2] and [c.marker for c in capped.citations] == [1, 2]
    assert [text.split()[1] for _, _, text in sent] == ["1", "2"]  # the best two, in rank order
    assert estimate_tokens(capped.context) < estimate_tokens(everything.context or "") / 2


async def test_the_best_passage_is_sent_however_long(passages: VectorStore) -> None:
    retriever = Retriever(passages, RankedEmbedder(), top_k=5, threshold=0.8, prompt_tokens=50)
    capped = await retriever.retrieve("vacation?")
    assert capped.context is not None
    assert [marker for marker, _, _ in parse_passages(capped.context)] == [1]
