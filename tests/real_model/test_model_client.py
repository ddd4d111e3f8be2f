"""The orchestrator's model client against llama.cpp's server, a server nobody here wrote:
a streamed answer with its usage and the model's own name, and a real `tool_calls`
stream assembled into the platform's `ToolCallRequest`, then the turn that carries the
tool's result back (an assistant message whose `content` is null)."""

from __future__ import annotations

import json
import time

from agent_common.settings import ModelSettings
from agent_common.tools import TOOL_SPECS
from agent_orchestrator.conversation import AssistantMessage, ChatMessage, tool_definition
from agent_orchestrator.model_client import ModelClient
from agent_orchestrator.model_stream import ModelTurn
from tests.support.services import ModelServer

HTTP_GET = tool_definition(TOOL_SPECS["http_get"])
SYSTEM: ChatMessage = {"role": "system", "content": "You are a helpful assistant."}


def client_for(server: ModelServer) -> ModelClient:
    # A name of the operator's choosing: the server answers with its own.
    return ModelClient(ModelSettings(base_url=server.base_url, name="configured-name", api_key="unused"))


async def call(server: ModelServer, messages: list[ChatMessage], *, tools: bool = False) -> tuple[list[str], ModelTurn]:
    client = client_for(server)
    try:
        async with client.stream(messages, [HTTP_GET] if tools else [], time.time() + 60) as response:
            deltas = [delta.text async for delta in response]
        return deltas, response.turn()
    finally:
        await client.close()


async def test_an_answer_streams_in_pieces_with_its_usage_and_the_servers_model_name(
    model_server: ModelServer,
) -> None:
    deltas, turn = await call(model_server, [SYSTEM, {"role": "user", "content": "Say hello."}])

    assert len(deltas) > 1 and turn.text == "".join(deltas) and turn.text.strip()
    assert turn.finish_reason == "stop"
    assert turn.model == model_server.model
    assert turn.usage.prompt_tokens > 0 and turn.usage.completion_tokens > 0
    assert turn.usage.total_tokens == turn.usage.prompt_tokens + turn.usage.completion_tokens
    assert turn.time_to_first_token_s is not None


async def test_the_ping_lists_the_servers_models(model_server: ModelServer) -> None:
    client = client_for(model_server)
    try:
        assert await client.ping() is True
    finally:
        await client.close()


async def test_a_tool_call_streams_in_fragments_and_is_assembled(model_server: ModelServer) -> None:
    question: ChatMessage = {"role": "user", "content": "What is on https://docs.python.org/3/ today?"}

    deltas, turn = await call(model_server, [SYSTEM, question], tools=True)

    assert turn.finish_reason == "tool_calls"
    assert "".join(deltas) == turn.text == ""  # the call's markup never reaches the user as text
    [request] = turn.tool_calls
    assert request.name == "http_get" and request.call_id
    arguments = json.loads(request.arguments_json)
    assert isinstance(arguments["url"], str) and arguments["url"].startswith("https://")


async def test_the_tools_result_goes_back_after_an_assistant_turn_without_content(
    model_server: ModelServer,
) -> None:
    question: ChatMessage = {"role": "user", "content": "What is on https://docs.python.org/3/ today?"}
    _, asked = await call(model_server, [SYSTEM, question], tools=True)
    [request] = asked.tool_calls
    # What the agent loop sends after a tool ran (`loop.py`): the call as the model made it, then its result.
    assistant: AssistantMessage = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": request.call_id,
                "type": "function",
                "function": {"name": request.name, "arguments": request.arguments_json},
            }
        ],
    }
    result: ChatMessage = {
        "role": "tool",
        "tool_call_id": request.call_id,
        "content": "Python 3 documentation. Welcome! This is the official documentation for Python.",
    }

    _, turn = await call(model_server, [SYSTEM, question, assistant, result], tools=True)

    assert turn.finish_reason in {"stop", "length", "tool_calls"}
    assert turn.usage.prompt_tokens > asked.usage.prompt_tokens  # the call and its result were read
