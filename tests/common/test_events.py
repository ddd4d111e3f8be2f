"""Run events: one model per SSE event type, parsed back by its `type`."""

from __future__ import annotations

import orjson
import pytest

from agent_common.errors import ErrorCode, ErrorInfo
from agent_common.events import (
    DoneEvent,
    ErrorEvent,
    TokenEvent,
    ToolEndEvent,
    ToolStartEvent,
    Usage,
    is_terminal,
    parse_run_event,
)

EXAMPLES = [
    TokenEvent(request_id="r", seq=1, text="안녕"),
    ToolStartEvent(request_id="r", seq=2, call_id="c", tool="http_get", arguments={"url": "http://a"}),
    ToolEndEvent(
        request_id="r",
        seq=3,
        call_id="c",
        tool="http_get",
        ok=False,
        error=ErrorInfo.of(ErrorCode.TOOL_TIMEOUT, "slow"),
    ),
    DoneEvent(request_id="r", seq=4, session_id="s", answer="a", model="m", usage=Usage(prompt_tokens=1)),
    ErrorEvent(request_id="r", seq=5, error=ErrorInfo.of(ErrorCode.MODEL_UNAVAILABLE, "down"), partial=True),
]


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: e.type)
def test_sse_data_parses_back_to_the_same_event(event: object) -> None:
    assert parse_run_event(event.sse_data()) == event  # type: ignore[attr-defined]


def test_sse_data_names_its_type_and_keeps_korean_readable() -> None:
    data = EXAMPLES[0].sse_data()
    assert orjson.loads(data)["type"] == "token"
    assert "안녕" in data


def test_only_done_and_error_are_terminal() -> None:
    assert [is_terminal(e) for e in EXAMPLES] == [False, False, False, True, True]


def test_usage_adds_up() -> None:
    total = Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3) + Usage(
        prompt_tokens=10, completion_tokens=20, total_tokens=30
    )
    assert total == Usage(prompt_tokens=11, completion_tokens=22, total_tokens=33)
