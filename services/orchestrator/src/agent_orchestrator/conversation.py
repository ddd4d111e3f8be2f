"""The conversation sent to the model, typed: the chat-completions message and tool
formats, only the fields the platform writes.

TypedDicts, so they are plain dicts on the wire and in a run's saved state, and
pydantic validates them when a state is loaded (`typing_extensions`' TypedDict:
pydantic needs it before Python 3.12). Not the `openai` SDK's own
`ChatCompletionMessageParam`: it declares its lists as `Iterable`, which pydantic
validates into one-shot iterators, and a saved state is read more than once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import Field
from typing_extensions import TypedDict

from agent_common.sessions import Turn
from agent_common.sessions.base import within_budget
from agent_common.tools import ToolSpec


class SystemMessage(TypedDict):
    role: Literal["system"]
    content: str


class UserMessage(TypedDict):
    role: Literal["user"]
    content: str


class FunctionCall(TypedDict):
    name: str
    arguments: str  # JSON, as the model wrote it


class ToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: FunctionCall


class AssistantMessage(TypedDict):
    role: Literal["assistant"]
    content: str | None
    tool_calls: NotRequired[list[ToolCall]]


class ToolMessage(TypedDict):
    role: Literal["tool"]
    tool_call_id: str
    content: str


ChatMessage = Annotated[SystemMessage | UserMessage | AssistantMessage | ToolMessage, Field(discriminator="role")]


class FunctionDefinition(TypedDict):
    name: str
    description: str
    parameters: dict[str, Any]  # a JSON Schema: any JSON object


class ToolDefinition(TypedDict):
    """A tool as a chat-completions request offers it."""

    type: Literal["function"]
    function: FunctionDefinition


def tool_definition(spec: ToolSpec) -> ToolDefinition:
    return {
        "type": "function",
        "function": {"name": spec.name, "description": spec.description, "parameters": spec.parameters},
    }


# Follows a stored answer that was cut off at the output limit, so the model knows it is incomplete.
CUT_OFF_MARKER = "[This answer was cut off at the output limit; it is incomplete.]"


def build_messages(
    system_prompt: str, history: list[Turn], user_message: str, history_tokens: int | None = None
) -> list[ChatMessage]:
    """What the model is sent at a run's start: the system prompt, the session's history, the new turn.

    With `history_tokens`, only the newest turns whose estimated size fits it are sent, whole
    (the newest always, however long): every step of the run pays for the history again, and
    the oldest turns of a long session are the ones an answer needs least. The session keeps
    them all (its own caps): what the user sees of their conversation does not change."""
    messages: list[ChatMessage] = [{"role": "system", "content": system_prompt}]
    if history and history_tokens is not None:
        history = within_budget(history, len(history), history_tokens)
    for turn in history:
        messages.append({"role": "user", "content": turn.user})
        answer = f"{turn.assistant}\n\n{CUT_OFF_MARKER}" if turn.truncated else turn.assistant
        messages.append({"role": "assistant", "content": answer})
    messages.append({"role": "user", "content": user_message})
    return messages
