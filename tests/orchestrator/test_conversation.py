"""The conversation's types: what the model is sent at a run's start, and a saved run's
state (every kind of message in it) read back exactly as it was written."""

from __future__ import annotations

import orjson

from agent_common.sessions import Turn
from agent_common.tools import TOOL_SPECS
from agent_orchestrator.conversation import build_messages, tool_definition
from agent_orchestrator.run_state import RunState

# A state as the orchestrator saved it before the conversation was typed: deployed data stays readable.
SAVED = {
    "request_id": "req_1",
    "session_id": "ses_1",
    "user_id": "u",
    "user_message": "Read http://docs.test/a",
    "locale": None,
    "deadline_at": 1_900_000_000.0,
    "messages": [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "Read http://docs.test/a"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "http_get", "arguments": '{"url": "x"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "the page"},
    ],
    "step": 1,
    "answer": "",
    "pending": [],
    "tool_calls": [],
    "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    "citations": [],
}


def test_a_run_starts_with_the_system_prompt_the_history_and_the_question() -> None:
    history = [Turn.of("req_0", user="first", assistant="first answer")]
    assert build_messages("be brief", history, "second") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second"},
    ]


def test_a_saved_state_is_read_back_as_it_was_written() -> None:
    state = RunState.model_validate_json(orjson.dumps(SAVED))
    assert orjson.loads(state.model_dump_json()) == SAVED
    again = RunState.model_validate_json(state.model_dump_json())
    assert again == state and again.messages[4]["role"] == "assistant"


def test_a_tool_is_offered_with_its_own_schema() -> None:
    spec = TOOL_SPECS["http_get"]
    assert tool_definition(spec) == spec.as_openai_tool()
