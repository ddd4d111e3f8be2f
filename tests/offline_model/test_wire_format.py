"""Tokens, usage and the completion objects, before any HTTP."""

from __future__ import annotations

import json
from typing import Any

import pytest

from agent_offline_model.policy import Reply, ToolCall
from agent_offline_model.tokenisation import argument_fragments, count_prompt_tokens, split_tokens
from agent_offline_model.wire import ResponseMeta, chunk_object, completion_object, first_delta, plan_completion


@pytest.mark.parametrize(
    "text",
    [
        '(offline model) You said: "hi".',
        "  leading and trailing  ",
        "a\n\nb\tc",
        "안녕하세요, 반가워요",
        "   ",
        "x",
        "",
    ],
)
def test_tokens_join_back_to_the_text_exactly(text: str) -> None:
    tokens = split_tokens(text)
    assert "".join(tokens) == text
    assert all(tokens)


def test_tokens_are_words_with_their_whitespace() -> None:
    assert split_tokens("(offline model) You said") == ["(offline ", "model) ", "You ", "said"]


def test_prompt_tokens_count_words_and_punctuation_of_every_message() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},  # 3
        {"role": "user", "content": "Hello, world!"},  # 4
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "http_get", "arguments": '{"url": "http://a"}'}},
        ]},  # http_get + {"url": "http://a"} -> 1 + 13
        {"role": "tool", "tool_call_id": "c", "content": "ok"},  # 1
    ]  # fmt: skip
    assert count_prompt_tokens(messages) == 3 + 4 + 14 + 1


def test_argument_fragments_join_back() -> None:
    arguments = json.dumps({"url": "http://docs.test/a/very/long/path?with=query"})
    assert "".join(argument_fragments(arguments)) == arguments
    assert len(argument_fragments(arguments)) > 1
    assert argument_fragments("") == [""]


def test_a_text_completion_has_one_delta_per_token_and_max_tokens_cuts_it() -> None:
    reply = Reply(text="one two three four")
    full = plan_completion(reply)
    assert full.deltas == [{"content": "one "}, {"content": "two "}, {"content": "three "}, {"content": "four"}]
    assert (full.finish_reason, full.completion_tokens, full.message["content"]) == ("stop", 4, "one two three four")
    cut = plan_completion(reply, token_limit=2)
    assert (cut.finish_reason, cut.completion_tokens, cut.message["content"]) == ("length", 2, "one two ")


def test_a_tool_call_completion_streams_a_header_then_argument_fragments() -> None:
    arguments = json.dumps({"url": "http://docs.test/a"})
    completion = plan_completion(Reply(tool_calls=(ToolCall("call_1", "http_get", arguments),)))
    header, *fragments = completion.deltas
    assert header == {
        "tool_calls": [
            {"index": 0, "id": "call_1", "type": "function", "function": {"name": "http_get", "arguments": ""}}
        ]
    }
    assert "".join(f["tool_calls"][0]["function"]["arguments"] for f in fragments) == arguments
    assert all(set(f["tool_calls"][0]) == {"index", "function"} for f in fragments)
    assert completion.finish_reason == "tool_calls"
    assert completion.message == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "http_get", "arguments": arguments}}],
    }
    assert first_delta(header) == {"role": "assistant", "content": None, **header}


def test_objects_carry_the_model_name_and_usage() -> None:
    meta = ResponseMeta(model="offline-1")
    completion = plan_completion(Reply(text="hi there"))
    body = completion_object(meta, completion, prompt_tokens=5)
    assert body["object"] == "chat.completion" and body["model"] == "offline-1" and body["id"].startswith("chatcmpl-")
    assert body["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
    assert chunk_object(meta, {"content": "x"}, include_usage=True)["usage"] is None
    assert "usage" not in chunk_object(meta, {"content": "x"})
