"""The usage entry a run leaves, against the offline model over HTTP through the `openai`
SDK: the provider's usage per call, retries and the secondary on lines of their own, the
failed call of a run that ended in error, estimates where no usage came, and a `done`
that never waits for the entry to be published."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, RunEvent, Usage
from agent_common.messages import BusMessage, ChatRequested
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_common.token_estimate import estimate_tokens
from agent_common.usage import UsageEntry, UsageRecorded
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.model_stream import FailedAttempt, ModelTurn, ToolCallRequest
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import ModelResilienceSettings, OrchestratorSettings, SecondaryModelSettings
from agent_orchestrator.usage_record import answered_calls
from tests.support.web import free_tcp_port, serve_in_thread

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "breaker_min_calls": 50}
WAIT_S = 10


@pytest.fixture(scope="module")
def offline() -> Iterator[str]:
    with serve_in_thread(create_offline_model()) as url:
        yield url


@pytest.fixture(autouse=True)
def no_queued_faults(offline: str) -> Iterator[None]:
    httpx.delete(f"{offline}/admin/faults")
    yield
    httpx.delete(f"{offline}/admin/faults")


def queue_fault(offline: str, kind: str, count: int = 1, **extra: Any) -> None:
    response = httpx.post(f"{offline}/admin/faults", json={"kind": kind, "count": count, **extra})
    assert response.status_code == 201, response.text


class Runs:
    """An agent loop on a memory bus, with a consumer of `usage.entries` that keeps what comes."""

    def __init__(self, model: ResilientModel, bus: MemoryBus | None = None) -> None:
        self.bus = bus or MemoryBus()
        self.entries: asyncio.Queue[UsageEntry] = asyncio.Queue()
        self.events = MemoryRunEventChannel()
        store = MemoryRunStore()

        async def keep(message: UsageRecorded) -> None:
            await self.entries.put(message.entry)

        self.bus.subscribe(UsageRecorded, keep, group="test-ledger")
        self.loop = AgentLoop(
            bus=self.bus,
            events=self.events,
            sessions=MemorySessionStore(max_turns=3, ttl_s=60),
            saved=SavedRuns(store.states, keep_after_deadline_s=60),
            deadlines=store.deadlines,
            model=model,
            settings=OrchestratorSettings(),
        )

    async def run(self, message: str, tenant: str | None = "acme") -> tuple[list[RunEvent], UsageEntry]:
        request = ChatRequested(
            request_id=f"req_{time.monotonic_ns()}",
            session_id="ses_usage01",
            user_id="u1",
            message=message,
            deadline_at=time.time() + 30,
            tenant=tenant,
        )
        await self.loop.start(request)
        entry = await asyncio.wait_for(self.entries.get(), WAIT_S)
        assert entry.request_id == request.request_id
        return await self.events.replay(request.request_id), entry


def resilient(primary_url: str, secondary_url: str | None = None, **overrides: Any) -> ResilientModel:
    return ResilientModel.from_settings(
        ModelSettings(base_url=primary_url),
        ModelResilienceSettings.model_validate({**FAST, **overrides}),
        SecondaryModelSettings(base_url=secondary_url, name="offline-secondary") if secondary_url else None,
    )


@pytest.fixture
async def runs(offline: str) -> AsyncIterator[Runs]:
    model = resilient(f"{offline}/v1")
    runs = Runs(model)
    await runs.bus.start()
    yield runs
    await runs.bus.stop()
    await model.close()


async def test_a_run_s_entry_has_the_provider_s_usage_and_who_asked(runs: Runs) -> None:
    events, entry = await runs.run("how much does this cost?")
    done = events[-1]
    assert isinstance(done, DoneEvent)
    assert (entry.tenant, entry.user_id, entry.session_id) == ("acme", "u1", "ses_usage01")
    assert entry.outcome == "done" and entry.error_code is None and entry.steps == 1
    [call] = entry.model_calls
    assert (call.model, call.role, call.attempt, call.estimated, call.error) == ("offline-1", "primary", 1, False, None)
    assert (call.prompt_tokens, call.completion_tokens) == (done.usage.prompt_tokens, done.usage.completion_tokens)
    assert call.prompt_tokens > 0 and call.completion_tokens > 0
    assert entry.duration_s >= 0 and abs(entry.at.timestamp() - time.time()) < 30


async def test_a_caller_without_a_tenant_is_the_default_tenant_s(runs: Runs) -> None:
    _, entry = await runs.run("hello", tenant=None)
    assert entry.tenant == "default"


async def test_a_retried_call_is_a_line_of_its_own(runs: Runs, offline: str) -> None:
    queue_fault(offline, "server_error")
    events, entry = await runs.run("after a hiccup")
    assert isinstance(events[-1], DoneEvent)
    failed, answered = entry.model_calls
    assert (failed.attempt, failed.error, failed.prompt_tokens, failed.completion_tokens) == (
        1,
        ErrorCode.MODEL_UNAVAILABLE.value,
        0,  # refused before the prompt was read: nothing to pay
        0,
    )
    assert (answered.attempt, answered.error, answered.estimated) == (2, None, False)


async def test_the_secondary_model_s_calls_are_marked_secondary(offline: str) -> None:
    model = resilient(f"http://127.0.0.1:{free_tcp_port()}/v1", f"{offline}/v1", attempts=2)
    runs = Runs(model)
    await runs.bus.start()
    try:
        _, entry = await runs.run("who answers?")
    finally:
        await runs.bus.stop()
        await model.close()
    roles = [(c.role, c.attempt, c.error) for c in entry.model_calls]
    assert roles == [
        ("primary", 1, ErrorCode.MODEL_UNAVAILABLE.value),
        ("primary", 2, ErrorCode.MODEL_UNAVAILABLE.value),
        ("secondary", 1, None),
    ]


async def test_a_run_cut_mid_answer_is_charged_its_estimated_prompt_and_streamed_text(runs: Runs) -> None:
    events, entry = await runs.run("[[offline:drop_mid_stream]] tell me a long enough story to be cut")
    error = events[-1]
    assert isinstance(error, ErrorEvent) and error.partial
    assert entry.outcome == "error" and entry.error_code == ErrorCode.MODEL_STREAM_INTERRUPTED.value
    [call] = entry.model_calls
    streamed = "".join(e.text for e in events if e.type == "token")  # type: ignore[attr-defined]
    assert call.estimated and call.error == ErrorCode.MODEL_STREAM_INTERRUPTED.value
    assert call.prompt_tokens > 0 and call.completion_tokens == estimate_tokens(streamed)


def test_a_provider_that_sends_no_usage_is_estimated_and_marked_so() -> None:
    messages: list[Any] = [{"role": "user", "content": "a question of forty characters, or so..."}]
    turn = ModelTurn(
        text="an answer",
        tool_calls=[ToolCallRequest("c1", "http_get", '{"url": "https://example.com"}')],
        usage=Usage(),
        usage_reported=False,
        model="m",
        role="secondary",
        attempt=2,
        failed_attempts=[FailedAttempt("m", "secondary", 1, ErrorCode.MODEL_TIMEOUT.value)],
    )
    lines = answered_calls(turn, messages, [], step=3)
    assert [(c.attempt, c.step, c.role, c.estimated) for c in lines] == [
        (1, 3, "secondary", True),
        (2, 3, "secondary", True),
    ]
    assert lines[0].prompt_tokens == lines[1].prompt_tokens > 10  # a timeout after the prompt was read is paid
    assert lines[1].completion_tokens == estimate_tokens('an answerhttp_get{"url": "https://example.com"}')


class StuckBus(MemoryBus):
    """A bus whose `usage.entries` publishes never return (a broker away)."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = asyncio.Event()

    async def publish(self, message: BusMessage) -> None:
        if isinstance(message, UsageRecorded):
            self.stuck.set()
            await asyncio.Event().wait()
        await super().publish(message)


async def test_the_run_s_done_does_not_wait_for_its_usage_entry(offline: str) -> None:
    model = resilient(f"{offline}/v1")
    bus = StuckBus()
    runs = Runs(model, bus)
    await bus.start()
    try:
        request = ChatRequested(
            request_id="req_stuck", session_id="s", user_id="u", message="hi", deadline_at=time.time() + 30
        )
        await asyncio.wait_for(runs.loop.start(request), WAIT_S)
        assert isinstance((await runs.events.replay("req_stuck"))[-1], DoneEvent)
        await asyncio.wait_for(bus.stuck.wait(), WAIT_S)
        await runs.loop.usage.drain(0.05)  # a stopping replica gives up on it, bounded
    finally:
        await bus.stop()
        await model.close()


async def test_a_call_the_open_breaker_never_sent_is_no_line(offline: str) -> None:
    model = resilient(f"{offline}/v1", attempts=1, breaker_min_calls=1, breaker_open_s=60)
    runs = Runs(model)
    await runs.bus.start()
    try:
        queue_fault(offline, "server_error")
        _, failed = await runs.run("the call that opens the breaker")
        _, refused = await runs.run("refused at once")
    finally:
        await runs.bus.stop()
        await model.close()
    assert [(c.error, c.prompt_tokens) for c in failed.model_calls] == [(ErrorCode.MODEL_UNAVAILABLE.value, 0)]
    assert refused.outcome == "error" and refused.error_code == ErrorCode.MODEL_UNAVAILABLE.value
    assert refused.model_calls == []
