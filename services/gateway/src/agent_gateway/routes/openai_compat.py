"""The OpenAI-compatible API: `POST /v1/chat/completions` (JSON or streamed) and `GET /v1/models`.

Any OpenAI client reaches the agent by changing its base URL and key. A request goes the way
of `/api/chat`: the same admission (key, rate limits, stream slots), input limits, session and
run claims, and the same `RunClient` on the bus; only the shapes differ (`openai_schemas.py`,
errors: `openai_errors.py`, the turn a request makes: `openai_turns.py`; docs/openai.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.events import DoneEvent, ErrorEvent, RunEvent, TokenEvent
from agent_common.logs import bind_ids
from agent_common.messages import ChatRequested
from agent_gateway.admission import acquire_stream, admitted_caller, user_key
from agent_gateway.auth import Caller
from agent_gateway.errors import RUN_WITHOUT_ANSWER, error_response
from agent_gateway.event_stream import EventStream, LastFrame
from agent_gateway.hangups import CLIENT_CLOSED_REQUEST, unless_hung_up
from agent_gateway.keepalive import with_keepalive
from agent_gateway.localized import first_language
from agent_gateway.openai_errors import openai_error
from agent_gateway.openai_schemas import (
    AGENT_MODEL_ID,
    AssistantReply,
    ChatCompletion,
    ChatCompletionBody,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    ModelCard,
    ModelList,
    OpenAIErrorResponse,
    PlatformDetails,
)
from agent_gateway.openai_turns import SESSION_PARAMETER, refuse_unsupported, session_named, turn_text
from agent_gateway.ownership import NOT_FOUND, Ownership
from agent_gateway.run_client import RunClient
from agent_gateway.schemas import ChatBody
from agent_gateway.state import ownership, run_client
from agent_gateway.turns import admit_turn

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorResponse} for status in (400, 401, 403, 404, 413, 422, 429, 502, 503, 504)
}
STARTED_AT = int(time.time())
AGENT = ModelCard(id=AGENT_MODEL_ID, created=STARTED_AT, owned_by="agent-platform")
# OpenAI's finish reasons the platform can have; any other a model gives is reported as `stop`.
FINISH_REASONS = frozenset({"stop", "length", "content_filter"})
DONE_FRAME = LastFrame({"data": "[DONE]"})
# Where a token's text goes in its chunk's JSON: a string no id or name of the chunk's can hold.
_TEXT_MARK = "\x00text\x00"


@router.get("/models", response_model=ModelList, responses=REFUSALS)
async def list_models(_: Annotated[Caller, Depends(admitted_caller)]) -> ModelList:
    """The models a client may name: the agent."""
    return ModelList(data=[AGENT])


@router.get("/models/{model}", response_model=ModelCard, responses=REFUSALS)
async def retrieve_model(model: str, request: Request, _: Annotated[Caller, Depends(admitted_caller)]) -> ModelCard:
    """One model by its id: only the agent's is known."""
    if model != AGENT_MODEL_ID:
        locale = first_language(request.headers.get("accept-language"))
        raise PlatformError(ErrorCode.NOT_FOUND, NOT_FOUND.for_locale(locale))
    return AGENT


@dataclass(frozen=True)
class _Completion:
    """The ids every chunk of one answer repeats."""

    submitted: ChatRequested
    created: int

    @property
    def id(self) -> str:
        return f"chatcmpl-{self.submitted.request_id}"

    def chunk(self, delta: Delta, finish_reason: str | None = None, **extra: Any) -> dict[str, str]:
        choice = ChunkChoice(delta=delta, finish_reason=finish_reason)
        chunk = ChatCompletionChunk(id=self.id, created=self.created, model=AGENT_MODEL_ID, choices=[choice], **extra)
        return {"data": chunk.model_dump_json(exclude={"platform"} if chunk.platform is None else None)}

    def token_chunk(self, text: str) -> dict[str, str]:
        """A token's chunk, the same bytes as `chunk(Delta(content=text))`: the answer's own JSON
        around the text's (the models' construction and dump were 6 µs a token, this 1)."""
        head, tail = self._token_frame
        return {"data": head + orjson.dumps(text).decode() + tail}

    @cached_property
    def _token_frame(self) -> tuple[str, str]:
        whole = self.chunk(Delta(content=_TEXT_MARK))["data"]
        head, _, tail = whole.partition(orjson.dumps(_TEXT_MARK).decode())
        return head, tail

    def details(self, done: DoneEvent) -> PlatformDetails:
        return PlatformDetails(
            request_id=done.request_id,
            session_id=done.session_id,
            model=done.model,
            tool_calls=done.tool_calls,
            citations=done.citations,
            note=done.note,
        )

    def whole(self, done: DoneEvent) -> ChatCompletion:
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=AGENT_MODEL_ID,
            choices=[Choice(message=AssistantReply(content=done.answer), finish_reason=_finish_reason(done))],
            usage=CompletionUsage.of(done.usage),
            platform=self.details(done),
        )


def _finish_reason(done: DoneEvent) -> str:
    # None is an answer the platform gave itself (no model call): whole, so `stop`.
    return done.finish_reason if done.finish_reason in FINISH_REASONS else "stop"


SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "data": {"type": "string", "description": "A `chat.completion.chunk` as JSON, or `[DONE]`."},
        "event": {"type": "string"},
        "id": {"type": "string"},
        "retry": {"type": "integer"},
    },
    "required": ["data"],
}


@router.post(
    "/chat/completions",
    response_model=None,
    responses={
        200: {
            "model": ChatCompletion,
            "description": "The answer: a `chat.completion`, or with `stream: true` Server-Sent Events, each "
            "`data:` a `chat.completion.chunk`, then `data: [DONE]`.",
            # One Server-Sent Event, as OpenAPI 3.2's `itemSchema` for `text/event-stream` has it.
            "content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
        },
        **REFUSALS,
    },
    openapi_extra={"parameters": [SESSION_PARAMETER]},
)
async def chat_completions(
    body: ChatCompletionBody,
    request: Request,
    caller: Annotated[Caller, Depends(admitted_caller)],
    runs: Annotated[RunClient, Depends(run_client)],
    owners: Annotated[Ownership, Depends(ownership)],
    accept_language: Annotated[str | None, Header()] = None,
) -> Response:
    """OpenAI's Chat Completions, answered by the agent (docs/openai.md)."""
    locale = first_language(accept_language)
    session_id = session_named(request.headers, locale)
    refuse_unsupported(body, locale)
    turn = ChatBody.model_construct(
        message=turn_text(body.messages, continuing=session_id is not None), session_id=session_id, locale=None
    )
    # `/api/chat`'s own admission of a turn (blank and length checks, session and run claims): one door.
    submitted = await admit_turn(turn, request, caller, runs, owners, locale)
    completion = _Completion(submitted, int(time.time()))
    headers = {"X-Session-ID": submitted.session_id}
    ids = {"request_id": submitted.request_id, "session_id": submitted.session_id, "user_id": caller.user_id}
    if not body.stream:
        with bind_ids(**ids):
            answer = await unless_hung_up(request, _whole_completion(runs, completion))
        if answer is None:  # nobody reads a hung-up client's answer (as `/api/chat`)
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        answer.headers.update(headers)
        return answer
    slots = await acquire_stream(request, caller, submitted.request_id)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    with bind_ids(**ids):
        events = await runs.submit(submitted)  # before the response: the run is on its way meanwhile
    frames = _chunks(
        events,
        completion,
        partial(slots.release, user_key(caller), submitted.request_id),
        include_usage=include_usage,
        ids=ids,
    )
    # Pings only while the run is quiet, as `/api/chat/stream`: SSE comments, which every SDK skips.
    pings = with_keepalive(frames, request.app.state.settings.sse_ping_s)
    headers |= {"X-Request-ID": submitted.request_id, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    # The role chunk opens the stream with its head, before any of the run's events (`event_stream.py`).
    role = completion.chunk(Delta(role="assistant", content=""))
    return EventStream(pings, ping=0, headers=headers, head_hold_s=request.app.state.sse_head_hold_s, opening=[role])


async def _whole_completion(runs: RunClient, completion: _Completion) -> JSONResponse:
    submitted = completion.submitted
    answered: list[str] = []
    async with aclosing(await runs.submit(submitted)) as events:
        async for event in events:
            if isinstance(event, TokenEvent):
                answered.append(event.text)
            elif isinstance(event, DoneEvent):
                return JSONResponse(completion.whole(event).model_dump(mode="json"))
            elif isinstance(event, ErrorEvent):
                return error_response(
                    event.error,
                    request_id=submitted.request_id,
                    session_id=submitted.session_id,
                    partial_answer="".join(answered) if event.partial else None,
                    fallback=event.fallback,
                    locale=submitted.locale,
                )
    info = ErrorInfo.of(ErrorCode.INTERNAL, RUN_WITHOUT_ANSWER.for_locale(submitted.locale))
    return error_response(info, request_id=submitted.request_id, locale=submitted.locale)


async def _chunks(
    events: AsyncGenerator[RunEvent, None],
    completion: _Completion,
    release: Callable[[], Awaitable[None]],
    *,
    include_usage: bool,
    ids: dict[str, str],
) -> AsyncIterator[dict[str, str]]:
    """A run's events as OpenAI chunks, after the role chunk the response opens with: a chunk per
    token, the finish reason (with the platform's details), the usage when asked, `[DONE]`; or an
    error object, as OpenAI ends a failed stream. Tool activity is not streamed: it is in
    `platform.tool_calls` at the end. The stream's slot is released however the stream ends."""
    try:
        with bind_ids(**ids):
            async with aclosing(events) as stream:
                async for event in stream:
                    if isinstance(event, TokenEvent):
                        yield completion.token_chunk(event.text)
                    elif isinstance(event, DoneEvent):
                        yield completion.chunk(
                            Delta(), finish_reason=_finish_reason(event), platform=completion.details(event)
                        )
                        if include_usage:
                            usage = ChatCompletionChunk(
                                id=completion.id,
                                created=completion.created,
                                model=AGENT_MODEL_ID,
                                choices=[],
                                usage=CompletionUsage.of(event.usage),
                            )
                            yield {"data": usage.model_dump_json(exclude={"platform"})}
                        yield DONE_FRAME
                    elif isinstance(event, ErrorEvent):
                        failed = OpenAIErrorResponse(
                            error=openai_error(event.error),
                            request_id=event.request_id,
                            session_id=completion.submitted.session_id,
                            fallback=event.fallback,
                        )
                        yield LastFrame({"data": failed.model_dump_json(exclude_none=True)})
    finally:
        await release()
