"""The OpenAI chat-completions wire format: the request as it arrives, and the
completion, chunk, usage, model and error objects as OpenAI sends them."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_offline_model.policy import Reply
from agent_offline_model.tokenisation import argument_fragments, split_tokens

SYSTEM_FINGERPRINT = "offline"
SSE_DONE = b"data: [DONE]\n\n"

# ---- the request ----


class ChatMessage(BaseModel):
    """One message of the conversation; fields beyond the role are kept as sent."""

    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Any = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields of `POST /v1/chat/completions` the offline model reads; the rest are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)

    def message_dicts(self) -> list[dict[str, Any]]:
        return [m.model_dump() for m in self.messages]

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


# ---- the completion ----


@dataclass(frozen=True)
class Completion:
    """A reply laid out as the deltas it streams as; the non-streaming message is built from the same deltas."""

    deltas: list[dict[str, Any]]
    finish_reason: Literal["stop", "length", "tool_calls"]
    message: dict[str, Any]

    @property
    def completion_tokens(self) -> int:
        return len(self.deltas)


def plan_completion(reply: Reply, token_limit: int | None = None) -> Completion:
    """The deltas of `reply`: one per word token, or per tool-call header and argument fragment.
    `token_limit` (`max_tokens`) cuts a text answer short with `finish_reason: "length"`."""
    if reply.tool_calls:
        deltas: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for index, call in enumerate(reply.tool_calls):
            # The header names the call with empty arguments; the fragments that follow carry them.
            header = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            deltas.append({"tool_calls": [header]})
            deltas += [
                {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                for fragment in argument_fragments(call.arguments)
            ]
            calls.append(
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            )
        message = {"role": "assistant", "content": None, "tool_calls": calls, "refusal": None}
        return Completion(deltas, "tool_calls", message)
    tokens = split_tokens(reply.text or "")
    finish: Literal["stop", "length"] = "stop"
    if token_limit is not None and len(tokens) > token_limit:
        tokens, finish = tokens[:token_limit], "length"
    message = {"role": "assistant", "content": "".join(tokens), "refusal": None}
    return Completion([{"content": token} for token in tokens], finish, message)


@dataclass(frozen=True)
class ResponseMeta:
    """What every object of one response shares."""

    model: str
    id: str = field(default_factory=lambda: f"chatcmpl-{uuid.uuid4().hex[:24]}")
    created: int = field(default_factory=lambda: int(time.time()))


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def completion_object(meta: ResponseMeta, completion: Completion, prompt_tokens: int) -> dict[str, Any]:
    """The non-streaming `chat.completion`."""
    return {
        "id": meta.id,
        "object": "chat.completion",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [
            {"index": 0, "message": completion.message, "logprobs": None, "finish_reason": completion.finish_reason}
        ],
        "usage": usage(prompt_tokens, completion.completion_tokens),
    }


def chunk_object(
    meta: ResponseMeta,
    delta: dict[str, Any] | None,
    finish_reason: str | None = None,
    *,
    include_usage: bool = False,
) -> dict[str, Any]:
    """One `chat.completion.chunk`; with `include_usage` every chunk carries `"usage": null`, as OpenAI's do."""
    chunk: dict[str, Any] = {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish_reason}],
    }
    if include_usage:
        chunk["usage"] = None
    return chunk


def usage_chunk_object(meta: ResponseMeta, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage` is set: no choices, only usage."""
    return {
        "id": meta.id,
        "object": "chat.completion.chunk",
        "created": meta.created,
        "model": meta.model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "choices": [],
        "usage": usage(prompt_tokens, completion_tokens),
    }


def first_delta(delta: dict[str, Any]) -> dict[str, Any]:
    """The first delta of a stream also carries the role (and, for tool calls, `content: null`)."""
    if "tool_calls" in delta:
        return {"role": "assistant", "content": None, **delta}
    return {"role": "assistant", **delta}


def sse_event(data: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


# ---- models and errors ----


def model_object(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "offline"}


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape, which the SDK reads into its exceptions."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}
