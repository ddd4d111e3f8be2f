"""Tool calls the offline model gets wrong on purpose, and how it corrects one."""

from __future__ import annotations

import json
from typing import Any

from agent_offline_model.policy import decide
from agent_offline_model.tool_misuse import FLOOD_CALLS
from tests.offline_model.conftest import HTTP_GET_TOOL


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant_calls(reply_calls: Any) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply_calls
        ],
    }


def tool_message(call_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(body)}


INVALID = {
    "ok": False,
    "error": {
        "class": "tool",
        "code": "TOOL_INPUT_INVALID",
        "message": "The arguments for http_get do not match its schema.",
        "details": {"errors": [{"field": "(arguments)", "problem": "'url' is a required property"}]},
    },
}


def test_bad_arguments_are_sent_when_the_directive_asks() -> None:
    reply = decide([user("Read http://a.test/x [[offline:tool_bad_arguments]]")], tools=[HTTP_GET_TOOL])
    assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
        ("http_get", {"address": "http://a.test/x"})
    ]


def test_a_call_refused_as_invalid_is_corrected_once_and_made_again() -> None:
    messages = [user("Read http://a.test/x [[offline:tool_bad_arguments]]")]
    first = decide(messages, tools=[HTTP_GET_TOOL])
    messages += [assistant_calls(first.tool_calls), tool_message(first.tool_calls[0].id, INVALID)]
    retry = decide(messages, tools=[HTTP_GET_TOOL])
    assert [(c.name, json.loads(c.arguments)) for c in retry.tool_calls] == [("http_get", {"url": "http://a.test/x"})]
    assert retry.tool_calls[0].id != first.tool_calls[0].id
    # Refused again (it is not, in practice): the model answers instead of looping.
    messages += [assistant_calls(retry.tool_calls), tool_message(retry.tool_calls[0].id, INVALID)]
    answer = decide(messages, tools=[HTTP_GET_TOOL])
    assert answer.tool_calls == () and answer.text is not None and "TOOL_INPUT_INVALID" in answer.text


def test_an_unknown_tool_is_called_when_the_directive_asks() -> None:
    reply = decide([user("http://a.test/x 읽어줘 [[offline:tool_unknown]]")], tools=[HTTP_GET_TOOL])
    assert [c.name for c in reply.tool_calls] == ["run_shell"]


def test_other_failures_are_answered_not_retried() -> None:
    messages = [user("Read http://a.test/x")]
    first = decide(messages, tools=[HTTP_GET_TOOL])
    timeout = {"ok": False, "error": {"class": "tool", "code": "TOOL_TIMEOUT", "message": "Too slow."}}
    messages += [assistant_calls(first.tool_calls), tool_message(first.tool_calls[0].id, timeout)]
    answer = decide(messages, tools=[HTTP_GET_TOOL])
    assert answer.tool_calls == () and answer.text is not None and "TOOL_TIMEOUT" in answer.text


def test_a_flooding_model_asks_for_many_calls_at_every_step_while_the_tool_is_offered() -> None:
    ask = user("[[offline:tool_flood]] read http://a.test/x and http://b.test/y")
    first = decide([ask], [HTTP_GET_TOOL])
    assert len(first.tool_calls) == FLOOD_CALLS
    assert [json.loads(c.arguments)["url"] for c in first.tool_calls[:3]] == [
        "http://a.test/x",
        "http://b.test/y",
        "http://a.test/x",
    ]
    results = [tool_message(c.id, {"ok": True, "url": "http://a.test/x", "text": "page"}) for c in first.tool_calls]
    after = [ask, assistant_calls(first.tool_calls), *results]
    again = decide(after, [HTTP_GET_TOOL])
    assert len(again.tool_calls) == FLOOD_CALLS
    assert not {c.id for c in again.tool_calls} & {c.id for c in first.tool_calls}  # new calls, new ids
    # Offered no tools (the platform's cap), it answers from what it got.
    answer = decide(after, [])
    assert not answer.tool_calls and answer.text and "page" in answer.text
