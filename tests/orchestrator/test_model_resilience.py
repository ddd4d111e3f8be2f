"""Model calls under failure, against the offline model over HTTP: retries, the circuit
breaker, the secondary model, fallbacks."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode
from agent_common.events import DoneEvent, ErrorEvent, RunEvent
from agent_common.fallback import BUSY, CUT_OFF, MISCONFIGURED, TOO_LONG, TRY_AGAIN
from agent_common.messages import ChatRequested
from agent_common.resilience.breaker import BreakerState
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_offline_model.app import create_app as create_offline_model
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import ModelResilienceSettings, OrchestratorSettings, SecondaryModelSettings
from tests.support.web import free_tcp_port, serve_in_thread

FAST = {"backoff_s": 0.01, "backoff_max_s": 0.05, "breaker_min_calls": 3, "breaker_open_s": 0.5}


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


def resilient(primary_url: str, secondary_url: str | None = None, **overrides: Any) -> ResilientModel:
    return ResilientModel.from_settings(
        ModelSettings(base_url=primary_url),
        ModelResilienceSettings.model_validate({**FAST, **overrides}),
        SecondaryModelSettings(base_url=secondary_url, name="offline-secondary") if secondary_url else None,
    )


class Runner:
    def __init__(self, model: ResilientModel) -> None:
        self.model = model
        self.events = MemoryRunEventChannel()
        store = MemoryRunStore()
        self.loop = AgentLoop(
            bus=MemoryBus(),
            events=self.events,
            sessions=MemorySessionStore(max_turns=3, ttl_s=60),
            saved=SavedRuns(store.states, keep_after_deadline_s=60),
            deadlines=store.deadlines,
            model=model,
            settings=OrchestratorSettings(),
        )

    async def run(self, message: str, locale: str | None = None) -> list[RunEvent]:
        request = ChatRequested(
            request_id=f"req_{time.monotonic_ns()}",
            session_id="ses_resilience01",
            user_id="u1",
            message=message,
            locale=locale,
            deadline_at=time.time() + 30,
        )
        await self.loop.start(request)
        return await self.events.replay(request.request_id)


@pytest.fixture
async def runner(offline: str) -> AsyncIterator[Runner]:
    model = resilient(f"{offline}/v1")
    yield Runner(model)
    await model.close()


@pytest.mark.parametrize("kind", ["rate_limit", "server_error"])
async def test_a_passing_failure_is_retried_and_the_user_gets_the_answer(
    runner: Runner, offline: str, kind: str
) -> None:
    queue_fault(offline, kind, retry_after_s=0)
    events = await runner.run("hello after a hiccup")
    assert isinstance(events[-1], DoneEvent), events[-1]
    assert '"hello after a hiccup"' in events[-1].answer


async def test_retry_after_of_a_429_is_honoured(runner: Runner, offline: str, caplog: pytest.LogCaptureFixture) -> None:
    queue_fault(offline, "rate_limit", retry_after_s=1)
    with caplog.at_level(logging.WARNING, logger="agent.orchestrator.model"):
        events = await runner.run("patience")
    assert isinstance(events[-1], DoneEvent)
    waits = [r.wait_s for r in caplog.records if r.getMessage() == "retrying the model call"]
    assert waits == [1.0]  # what the endpoint asked for, not the backoff's own 50 ms at most


async def test_a_model_that_stays_down_gets_the_user_a_fallback_in_their_language(runner: Runner, offline: str) -> None:
    queue_fault(offline, "server_error", count=3)
    english = await runner.run("are you there?")
    queue_fault(offline, "server_error", count=3)
    korean = await runner.run("안녕하세요, 답해 주세요")
    queue_fault(offline, "server_error", count=3)
    by_locale = await runner.run("ok?", locale="ko-KR")
    for events, text in ((english, TRY_AGAIN["en"]), (korean, TRY_AGAIN["ko"]), (by_locale, TRY_AGAIN["ko"])):
        assert len(events) == 1 and isinstance(events[0], ErrorEvent)
        assert events[0].error.error_class == "model" and events[0].error.code == ErrorCode.MODEL_UNAVAILABLE
        assert events[0].fallback == text and events[0].partial is False


async def test_an_answer_cut_after_tokens_is_not_restarted_and_says_it_is_incomplete(
    runner: Runner, offline: str
) -> None:
    events = await runner.run("[[offline:drop_mid_stream]] tell me a long enough story to be cut")
    tokens = [e for e in events if e.type == "token"]
    error = events[-1]
    assert tokens and isinstance(error, ErrorEvent)
    assert error.partial is True and error.error.code == ErrorCode.MODEL_STREAM_INTERRUPTED
    assert error.fallback == CUT_OFF["en"]
    # One attempt only: a retry would have streamed the answer's first tokens again.
    assert "".join(t.text for t in tokens).count("(offline model)") == 1  # type: ignore[attr-defined]


async def test_the_breaker_opens_fails_fast_and_recovers(runner: Runner, offline: str) -> None:
    breaker = runner.model.breakers[0]
    queue_fault(offline, "server_error", count=3)
    await runner.run("first failure")  # three attempts, three failures: the window opens the breaker
    assert breaker.state is BreakerState.OPEN
    queue_fault(offline, "server_error", count=1)  # a call that reached the endpoint would use it up
    events = await runner.run("while it is open")
    assert isinstance(events[-1], ErrorEvent)
    assert events[-1].error.details.get("reason") == "circuit_open"
    assert events[-1].fallback == TRY_AGAIN["en"]
    async with httpx.AsyncClient() as client:
        pending = (await client.get(f"{offline}/admin/faults")).json()["faults"]
        assert [f["remaining"] for f in pending] == [1]  # no call reached the endpoint while open
        await client.delete(f"{offline}/admin/faults")
    await asyncio.sleep(0.5)  # the breaker's open time (0.5 s here): then trial calls go through
    events = await runner.run("after it recovered")
    assert isinstance(events[-1], DoneEvent)
    events = await runner.run("and again")
    assert isinstance(events[-1], DoneEvent)
    assert breaker.state is BreakerState.CLOSED


async def test_the_secondary_model_answers_when_the_primary_is_down(offline: str) -> None:
    model = resilient(f"http://127.0.0.1:{free_tcp_port()}/v1", f"{offline}/v1", attempts=2)
    try:
        events = await Runner(model).run("who answers?")
    finally:
        await model.close()
    done = events[-1]
    assert isinstance(done, DoneEvent) and '"who answers?"' in done.answer
    assert done.model == "offline-1"  # the offline model reports its own name, whatever is asked for


async def test_a_wrong_base_url_is_a_misconfiguration_and_is_not_retried(offline: str) -> None:
    # A 404 for the API's own route (a base URL without `/v1`): the platform's setup is wrong, one attempt,
    # no breaker count, and a fallback that does not say "try again".
    model = resilient(f"{offline}/nowhere")
    try:
        events = await Runner(model).run("refused")
        assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_MISCONFIGURED
        assert events[-1].fallback == MISCONFIGURED["en"]
        assert model.breakers[0].state is BreakerState.CLOSED
    finally:
        await model.close()


@pytest.mark.parametrize("kind", ["unauthorized", "model_not_found"])
async def test_a_misconfigured_model_is_not_retried_and_does_not_open_the_breaker(
    runner: Runner, offline: str, kind: str
) -> None:
    queue_fault(offline, kind, count=10)
    for _ in range(4):  # more than the breaker's minimum of calls
        events = await runner.run("안녕하세요")
        assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_MISCONFIGURED
        assert events[-1].fallback == MISCONFIGURED["ko"] and "다시 시도해 주세요" not in events[-1].fallback
    async with httpx.AsyncClient() as client:
        pending = (await client.get(f"{offline}/admin/faults")).json()["faults"]
    assert [f["remaining"] for f in pending] == [6]  # one call per run: never retried
    assert runner.model.breakers[0].state is BreakerState.CLOSED


async def test_an_overloaded_model_is_retried_honouring_retry_after(
    runner: Runner, offline: str, caplog: pytest.LogCaptureFixture
) -> None:
    queue_fault(offline, "overloaded", retry_after_s=1)
    with caplog.at_level(logging.WARNING, logger="agent.orchestrator.model"):
        events = await runner.run("patience, please")
    assert isinstance(events[-1], DoneEvent)
    waits = [r.wait_s for r in caplog.records if r.getMessage() == "retrying the model call"]
    assert waits == [1.0]


async def test_a_busy_model_never_opens_the_breaker_but_a_failing_one_does(runner: Runner, offline: str) -> None:
    breaker = runner.model.breakers[0]
    queue_fault(offline, "overloaded", count=6, retry_after_s=0)
    for _ in range(2):  # three attempts each, all refused as busy
        events = await runner.run("busy?")
        assert isinstance(events[-1], ErrorEvent) and events[-1].error.code == ErrorCode.MODEL_OVERLOADED
        assert events[-1].fallback == BUSY["en"]
    assert breaker.state is BreakerState.CLOSED
    queue_fault(offline, "server_error", count=3)
    await runner.run("broken?")
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize(
    ("kind", "provider_type", "provider_code"),
    [
        ("context_overflow", "invalid_request_error", "context_length_exceeded"),
        ("context_overflow_llamacpp", "exceed_context_size_error", "400"),
    ],
)
async def test_a_context_overflow_is_not_retried_and_says_to_shorten_the_conversation(
    runner: Runner, offline: str, caplog: pytest.LogCaptureFixture, kind: str, provider_type: str, provider_code: str
) -> None:
    queue_fault(offline, kind, count=5)
    with caplog.at_level(logging.WARNING, logger="agent.orchestrator.model"):
        events = await runner.run("a question the model cannot take")
    error = events[-1]
    assert isinstance(error, ErrorEvent) and error.error.code == ErrorCode.MODEL_CONTEXT_OVERFLOW
    assert error.fallback == TOO_LONG["en"] and "moment" not in error.fallback
    refused = [r for r in caplog.records if r.getMessage() == "the model refused the call"]
    assert [(r.upstream_status, r.provider_error_type, r.provider_error_code) for r in refused] == [
        (400, provider_type, provider_code)  # one call, never retried; what the provider said, not the prompt
    ]
    assert "cannot take" not in caplog.text
    assert runner.model.breakers[0].state is BreakerState.CLOSED


async def test_a_misconfigured_primary_hands_the_step_to_the_secondary(offline: str) -> None:
    # The secondary has its own key and URL: it may be set up right where the primary is not.
    model = resilient(f"{offline}/nowhere", f"{offline}/v1")
    try:
        events = await Runner(model).run("who answers?")
    finally:
        await model.close()
    assert isinstance(events[-1], DoneEvent)
