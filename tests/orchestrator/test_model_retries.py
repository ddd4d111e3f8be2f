"""No retry that cannot succeed: every refusal a provider sends, as an HTTP status or as an error
event inside the stream, against a provider that counts its calls, through the model client and
the agent loop. What a retry cannot fix is one call and a run that ends with its class; only
what it can fix (a 5xx, a server error inside the stream) is called again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from agent_common.bus import MemoryBus
from agent_common.errors import ErrorCode
from agent_common.events import ErrorEvent
from agent_common.messages import ChatRequested
from agent_common.run_events import MemoryRunEventChannel
from agent_common.run_store import MemoryRunStore
from agent_common.sessions import MemorySessionStore
from agent_common.settings import ModelSettings
from agent_orchestrator.loop import AgentLoop
from agent_orchestrator.resilient_model import ResilientModel
from agent_orchestrator.run_state import SavedRuns
from agent_orchestrator.settings import ModelResilienceSettings, OrchestratorSettings
from tests.support.web import serve_in_thread

ATTEMPTS = 3


@dataclass
class Provider:
    """Answers every completion request with `answer` (a status and an error body, or a stream)."""

    answer: tuple[int, dict[str, Any]] | list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0

    def app(self) -> Starlette:
        async def completions(_: Request) -> Response:
            self.calls += 1
            if isinstance(self.answer, tuple):
                status, body = self.answer
                return JSONResponse({"error": body}, status_code=status)
            events = [f"data: {orjson.dumps(event).decode()}\n\n" for event in self.answer]
            return StreamingResponse(iter(events), media_type="text/event-stream")

        async def props(_: Request) -> Response:
            return JSONResponse({"default_generation_settings": {"n_ctx": 8192}})

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"]), Route("/props", props)])


@pytest.fixture(scope="module")
def provider() -> Iterator[tuple[Provider, str]]:
    fake = Provider()
    with serve_in_thread(fake.app()) as url:
        yield fake, f"{url}/v1"


@pytest.fixture
async def run(provider: tuple[Provider, str]) -> AsyncIterator[Any]:
    fake, url = provider
    model = ResilientModel.from_settings(
        ModelSettings(base_url=url, context_window=8192),
        ModelResilienceSettings(attempts=ATTEMPTS, backoff_s=0.01, backoff_max_s=0.02, breaker_min_calls=100),
    )
    events = MemoryRunEventChannel()
    store = MemoryRunStore()
    loop = AgentLoop(
        bus=MemoryBus(),
        events=events,
        sessions=MemorySessionStore(max_turns=3, ttl_s=60),
        saved=SavedRuns(store.states, keep_after_deadline_s=60),
        deadlines=store.deadlines,
        model=model,
        settings=OrchestratorSettings(),
    )

    async def ask(answer: tuple[int, dict[str, Any]] | list[dict[str, Any]]) -> tuple[ErrorEvent, int]:
        fake.answer, fake.calls = answer, 0
        request = ChatRequested(
            request_id=f"req_{time.monotonic_ns()}",
            session_id="s",
            user_id="u",
            message="hi",
            deadline_at=time.time() + 30,
        )
        await loop.start(request)
        ending = (await events.replay(request.request_id))[-1]
        assert isinstance(ending, ErrorEvent), ending
        return ending, fake.calls

    yield ask
    await model.close()


ROLE_CHUNK = {
    "id": "c1",
    "object": "chat.completion.chunk",
    "created": 0,
    "model": "m",
    "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
}


@pytest.mark.parametrize(
    ("answer", "code", "reason"),
    [
        pytest.param(
            (400, {"type": "invalid_request_error", "message": "bad"}), ErrorCode.MODEL_BAD_RESPONSE, None, id="400"
        ),
        pytest.param(
            (401, {"type": "invalid_request_error", "code": "invalid_api_key"}),
            ErrorCode.MODEL_MISCONFIGURED,
            None,
            id="401",
        ),
        pytest.param((403, {"type": "permission_error"}), ErrorCode.MODEL_MISCONFIGURED, None, id="403"),
        pytest.param(
            (404, {"type": "invalid_request_error", "code": "model_not_found"}),
            ErrorCode.MODEL_MISCONFIGURED,
            None,
            id="404",
        ),
        pytest.param((413, {"type": "request_too_large"}), ErrorCode.MODEL_BAD_RESPONSE, None, id="413"),
        pytest.param((422, {"message": "unprocessable"}), ErrorCode.MODEL_BAD_RESPONSE, None, id="422"),
        pytest.param(
            (400, {"type": "invalid_request_error", "code": "context_length_exceeded"}),
            ErrorCode.MODEL_CONTEXT_OVERFLOW,
            None,
            id="context-overflow",
        ),
        pytest.param(
            (400, {"type": "invalid_request_error", "code": "content_filter"}),
            ErrorCode.MODEL_BAD_RESPONSE,
            "content_filter",
            id="content-filter",
        ),
        pytest.param(
            (429, {"type": "insufficient_quota", "code": "insufficient_quota"}),
            ErrorCode.MODEL_MISCONFIGURED,
            "insufficient_quota",
            id="429-quota-spent",
        ),
        pytest.param(
            [{"error": {"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}}],
            ErrorCode.MODEL_BAD_RESPONSE,
            None,
            id="vllm-error-event-400",
        ),
        pytest.param(
            [{"error": {"message": "filtered", "type": "invalid_request_error", "code": "content_filter"}}],
            ErrorCode.MODEL_BAD_RESPONSE,
            "content_filter",
            id="error-event-content-filter",
        ),
        pytest.param(
            [ROLE_CHUNK, {"error": {"message": "filtered", "type": "invalid_request_error", "code": "content_filter"}}],
            ErrorCode.MODEL_BAD_RESPONSE,
            "content_filter",
            id="content-filter-after-the-first-chunk",
        ),
    ],
)
async def test_a_refusal_a_retry_cannot_fix_is_one_call(
    run: Any, answer: Any, code: ErrorCode, reason: str | None
) -> None:
    ending, calls = await run(answer)
    assert calls == 1
    assert ending.error.code == code
    assert ending.error.details.get("reason") == reason


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param((500, {"type": "server_error"}), id="500"),
        pytest.param([{"error": {"message": "oops", "type": "server_error"}}], id="error-event-server-error"),
    ],
)
async def test_a_failure_a_retry_can_fix_is_tried_again(run: Any, answer: Any) -> None:
    ending, calls = await run(answer)
    assert calls == ATTEMPTS
    assert ending.error.code == ErrorCode.MODEL_UNAVAILABLE
