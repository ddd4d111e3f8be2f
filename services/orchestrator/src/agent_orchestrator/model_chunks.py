"""The parts of a streamed chat-completion chunk the platform reads, and nothing else.

The `openai` SDK turns every chunk into its own pydantic objects field by field
in Python (`construct_type`): about 100 µs a chunk, a fifth of an orchestrator's
CPU under load, for fields nobody reads. The model client asks the SDK for the
chunks as decoded JSON instead and validates them here in one pass of
pydantic-core: a few µs, and a chunk of the wrong shape is refused
(`MODEL_BAD_RESPONSE`) rather than half-read.

Lenient where OpenAI-compatible servers differ: unknown fields are ignored,
fields they leave out take their defaults, and a finish reason is any string.
A lone surrogate a model escaped into its JSON (`"\\ud800"`: valid JSON, no valid
text) becomes U+FFFD: left in, no event carrying it could be written, and the
answer would end in an error for one stray code unit.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _well_formed(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        return _LONE_SURROGATE.sub("\ufffd", text)
    return text


Text = Annotated[str, AfterValidator(_well_formed)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionDelta(_Part):
    name: Text | None = None
    arguments: Text | None = None


class ToolCallDelta(_Part):
    index: int = 0
    id: Text | None = None
    function: FunctionDelta | None = None


class Delta(_Part):
    content: Text | None = None
    tool_calls: list[ToolCallDelta] | None = None


class Choice(_Part):
    delta: Delta = Field(default_factory=Delta)
    finish_reason: Text | None = None


class ChunkUsage(_Part):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class StreamChunk(_Part):
    model: Text | None = None
    choices: list[Choice] = Field(default_factory=list)
    usage: ChunkUsage | None = None
