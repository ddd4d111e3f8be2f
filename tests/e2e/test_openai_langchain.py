"""The OpenAI-compatible API behind a framework that takes a base URL: LangChain's `ChatOpenAI`,
against the running embedded platform. What a LangChain application gets: messages, streamed
chunks with usage, a multi-turn conversation, and the SDK's exceptions for refusals."""

from __future__ import annotations

import openai
import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import SecretStr

from tests.e2e.conftest import Secured


@pytest.fixture(scope="module")
def chat(embedded_secured: Secured) -> ChatOpenAI:
    return ChatOpenAI(
        base_url=f"{embedded_secured.platform.base_url}/v1",
        api_key=SecretStr(embedded_secured.alice["authorization"].removeprefix("Bearer ")),
        model="agent",
        max_retries=0,
        timeout=30,
        stream_usage=True,
    )


def test_invoke_returns_the_agents_answer(chat: ChatOpenAI) -> None:
    reply = chat.invoke("Hello there")
    assert isinstance(reply, AIMessage)
    assert isinstance(reply.content, str) and reply.content.startswith("(offline model)")
    assert '"Hello there"' in reply.content
    assert reply.response_metadata["finish_reason"] == "stop"
    assert reply.usage_metadata is not None and reply.usage_metadata["output_tokens"] > 0


def test_stream_yields_the_answer_in_chunks_with_usage_at_the_end(chat: ChatOpenAI) -> None:
    chunks = list(chat.stream("Hello there"))
    assert len(chunks) > 2 and all(isinstance(c, AIMessageChunk) for c in chunks)
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole += chunk
    assert isinstance(whole.content, str) and whole.content.startswith("(offline model)")
    assert whole.usage_metadata is not None and whole.usage_metadata["total_tokens"] > 0
    assert whole.response_metadata["finish_reason"] == "stop"


def test_a_conversation_reaches_the_agent_whole(chat: ChatOpenAI) -> None:
    reply = chat.invoke(
        [
            SystemMessage("Answer in one line."),
            HumanMessage("My name is Mina"),
            AIMessage("Hello Mina"),
            HumanMessage("What is my name?"),
        ]
    )
    assert isinstance(reply.content, str)
    assert "user: My name is Mina" in reply.content and "assistant: Hello Mina" in reply.content


def test_binding_client_tools_is_refused_with_the_sdks_bad_request(chat: ChatOpenAI) -> None:
    def lookup(term: str) -> str:
        """Look a term up."""
        return term

    with pytest.raises(openai.BadRequestError) as refused:
        chat.bind_tools([lookup]).invoke("look up pineapples")
    assert (refused.value.code, refused.value.param) == ("PARAMETER_UNSUPPORTED", "tools")
