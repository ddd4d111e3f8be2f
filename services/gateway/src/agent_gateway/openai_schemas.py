"""The wire shapes of the OpenAI-compatible API (`/v1`), after OpenAI's Chat Completions reference.

What the platform honours, ignores or refuses is in docs/openai.md. Fields it refuses by value
(`n` > 1, client `tools`, JSON output...) are typed loosely here and refused by the route with
400 `PARAMETER_UNSUPPORTED`, a clearer answer than a validation error; the OpenAPI schema still
states the values accepted (`json_schema_extra`), for clients and the fuzzer.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agent_common.errors import ErrorClass, ErrorCode
from agent_common.events import Citation, ToolCallRecord, Usage

# The one model `/v1/models` lists: the agent, whatever model it uses underneath.
AGENT_MODEL_ID = "agent"


def _text(value: str) -> str:
    # As `ChatBody.message`: text that Kafka and Redis can carry, and something to say.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    if not value or value.isspace():
        raise ValueError("must have at least one character that is not whitespace")
    return value


Text = Annotated[
    str,
    AfterValidator(_text),
    Field(json_schema_extra={"pattern": "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"}),
]


class TextPart(BaseModel):
    """A text part of a message's content (images, audio and files are not read)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text"]
    text: Text


class RefusalPart(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: Literal["refusal"]
    refusal: Text


AssistantPart = Annotated[TextPart | RefusalPart, Field(discriminator="type")]
Content = Text | Annotated[list[TextPart], Field(min_length=1)]


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, description="Ignored.")


class SystemMessage(_Message):
    role: Literal["system"]
    content: Content


class DeveloperMessage(_Message):
    role: Literal["developer"]
    content: Content


class UserMessage(_Message):
    role: Literal["user"]
    content: Content


class AssistantMessage(_Message):
    role: Literal["assistant"]
    content: Text | Annotated[list[AssistantPart], Field(min_length=1)] | None = None
    refusal: Text | None = None
    tool_calls: list[dict[str, Any]] | None = Field(
        default=None,
        description="Refused (400 `PARAMETER_UNSUPPORTED`): the agent runs its own tools.",
        json_schema_extra={"maxItems": 0},
    )
    function_call: dict[str, Any] | None = Field(
        default=None, description="Refused, as `tool_calls`.", json_schema_extra={"type": "null"}
    )


Message = Annotated[
    SystemMessage | DeveloperMessage | UserMessage | AssistantMessage,
    Field(discriminator="role"),
]


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool | None = Field(
        default=None, description="Honoured: a last chunk before `[DONE]` with empty `choices` and the `usage`."
    )


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="ignore")

    type: str = Field(
        description="`text` only: JSON output (`json_object`, `json_schema`) is refused.",
        json_schema_extra={"enum": ["text"]},
    )


class ChatCompletionBody(BaseModel):
    """`POST /v1/chat/completions`. Fields OpenAI knows and this schema does not name are ignored."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(
        min_length=1, description=f"Any id: every one selects the agent (`{AGENT_MODEL_ID}`, see `/v1/models`)."
    )
    messages: list[Message] = Field(
        min_length=1,
        description="The conversation. The messages after the last assistant message are the turn; without "
        "`X-Session-ID` the earlier ones are passed before it as a transcript (docs/openai.md).",
    )
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: int | None = Field(
        default=None, ge=1, description="1 only: one answer per request.", json_schema_extra={"maximum": 1}
    )
    tools: list[dict[str, Any]] | None = Field(
        default=None,
        description="Refused when not empty: the agent runs its own tools (docs/tools.md).",
        json_schema_extra={"maxItems": 0},
    )
    tool_choice: str | dict[str, Any] | None = Field(
        default=None, description="`none` or `auto` only.", json_schema_extra={"enum": ["none", "auto", None]}
    )
    functions: list[dict[str, Any]] | None = Field(
        default=None, description="Refused when not empty, as `tools`.", json_schema_extra={"maxItems": 0}
    )
    function_call: str | dict[str, Any] | None = Field(
        default=None, description="`none` or `auto` only.", json_schema_extra={"enum": ["none", "auto", None]}
    )
    response_format: ResponseFormat | None = None
    stop: str | list[str] | None = Field(
        default=None,
        description="Refused: stop sequences are not supported.",
        json_schema_extra={"type": "null"},
    )
    logprobs: bool | None = Field(
        default=None, description="Refused when true.", json_schema_extra={"enum": [False, None]}
    )
    top_logprobs: int | None = Field(
        default=None, ge=0, description="Refused when above 0.", json_schema_extra={"maximum": 0}
    )
    modalities: list[str] | None = Field(
        default=None, description="`text` only.", json_schema_extra={"items": {"enum": ["text"]}}
    )
    audio: dict[str, Any] | None = Field(
        default=None, description="Refused: answers are text.", json_schema_extra={"type": "null"}
    )
    # Accepted and ignored (docs/openai.md says why): the platform's settings decide these.
    max_tokens: int | None = Field(default=None, ge=1, description="Ignored: the platform's output cap applies.")
    max_completion_tokens: int | None = Field(default=None, ge=1, description="Ignored, as `max_tokens`.")
    temperature: float | None = Field(default=None, ge=0, le=2, description="Ignored.")
    top_p: float | None = Field(default=None, ge=0, le=1, description="Ignored.")
    presence_penalty: float | None = Field(default=None, ge=-2, le=2, description="Ignored.")
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2, description="Ignored.")
    seed: int | None = Field(default=None, description="Ignored.")
    user: str | None = Field(default=None, description="Ignored: the credential says who the user is.")


class AssistantReply(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantReply
    finish_reason: str
    logprobs: None = None


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, usage: Usage) -> CompletionUsage:
        return cls.model_validate(usage.model_dump())


class PlatformDetails(BaseModel):
    """What the platform adds to OpenAI's shape, in a field clients that do not know it ignore."""

    request_id: str
    session_id: str = Field(description="Send it back as `X-Session-ID` to continue this conversation.")
    model: str = Field(description="The model the agent used underneath.")
    tool_calls: list[ToolCallRecord] = Field(default_factory=list, description="The tools the agent called.")
    citations: list[Citation] = Field(default_factory=list, description="The passages the answer cites.")
    note: str | None = Field(default=None, description="For the user, when the answer is not whole.")


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: None = None
    platform: PlatformDetails


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: None = None
    # On the chunk that carries the `finish_reason` only.
    platform: PlatformDetails | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


OpenAIErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "permission_error",
    "rate_limit_error",
    "insufficient_quota",
    "server_error",
]


class OpenAIError(BaseModel):
    """OpenAI's error object, with the platform's own error (`class`, `code`, `details`) in it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    message: str
    type: OpenAIErrorType
    param: str | None = None
    code: ErrorCode = Field(description="The platform's stable code (docs/errors.md).")
    error_class: ErrorClass = Field(alias="class")
    details: dict[str, object] = Field(default_factory=dict)


class OpenAIErrorResponse(BaseModel):
    error: OpenAIError
    request_id: str | None = None
    session_id: str | None = None
    partial_answer: str | None = None
    fallback: str | None = Field(default=None, description="A message for the user in their language.")
