"""How an OpenAI `messages` list becomes the platform's one turn (`openai_turns.py`), and which
fields are refused before anything is published."""

from __future__ import annotations

from typing import Any

import pytest

from agent_common.errors import ErrorCode, PlatformError
from agent_gateway.openai_schemas import ChatCompletionBody
from agent_gateway.openai_turns import refuse_unsupported, turn_text


def body(*messages: tuple[str, Any], **fields: Any) -> ChatCompletionBody:
    return ChatCompletionBody.model_validate(
        {"model": "agent", "messages": [{"role": role, "content": content} for role, content in messages], **fields}
    )


def test_one_user_message_is_the_turn_as_it_is() -> None:
    assert turn_text(body(("user", "Hello")).messages, continuing=False) == "Hello"
    parts = [{"type": "text", "text": "first"}, {"type": "text", "text": "second"}]
    assert turn_text(body(("user", parts)).messages, continuing=False) == "first\nsecond"


def test_without_a_session_the_earlier_messages_go_before_the_turn() -> None:
    conversation = body(("system", "Be brief."), ("user", "I am Mina"), ("assistant", "Hi Mina"), ("user", "Who am I?"))
    assert turn_text(conversation.messages, continuing=False) == (
        "Earlier in this conversation (as the client sent it):\n\n"
        "system: Be brief.\n\nuser: I am Mina\n\nassistant: Hi Mina\n\nNow:\n\nWho am I?"
    )


def test_with_a_session_only_the_messages_after_the_last_answer_are_read() -> None:
    conversation = body(("user", "I am Mina"), ("assistant", "Hi Mina"), ("user", "Who am I?"))
    assert turn_text(conversation.messages, continuing=True) == "Who am I?"
    # Several new messages (a system prompt sent each time, say) are the turn together.
    several = body(("user", "I am Mina"), ("assistant", "Hi"), ("system", "Be brief."), ("user", "Who am I?"))
    assert turn_text(several.messages, continuing=True) == "system: Be brief.\n\nuser: Who am I?"


def test_a_conversation_ending_with_an_answer_has_that_answer_as_its_turn() -> None:
    conversation = body(("user", "Tell me a story"), ("assistant", "Once upon a time"))
    assert turn_text(conversation.messages, continuing=True) == "assistant: Once upon a time"
    assert turn_text(conversation.messages, continuing=False).endswith(
        "user: Tell me a story\n\nNow:\n\nassistant: Once upon a time"
    )


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"stop": "END"}, "stop"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"voice": "alloy"}}, "audio"),
    ],
)
def test_a_field_asking_for_what_the_platform_does_not_do_is_refused(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(PlatformError) as refused:
        refuse_unsupported(body(("user", "Hello"), **fields), None)
    assert refused.value.code is ErrorCode.PARAMETER_UNSUPPORTED
    assert refused.value.info.details == {"param": param}
    assert refused.value.info.http_status == 400


def test_the_default_values_of_those_fields_are_accepted() -> None:
    accepted = {
        "n": 1,
        "tools": [],
        "tool_choice": "none",
        "response_format": {"type": "text"},
        "logprobs": False,
        "top_logprobs": 0,
        "modalities": ["text"],
        "temperature": 0.2,
        "max_tokens": 50,
        "user": "someone",
    }
    refuse_unsupported(body(("user", "Hello"), **accepted), None)


def test_a_refusal_speaks_korean_when_asked() -> None:
    with pytest.raises(PlatformError) as refused:
        refuse_unsupported(body(("user", "Hello"), n=2), "ko-KR")
    assert "지원하지 않습니다" in str(refused.value)
