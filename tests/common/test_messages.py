"""The wire contracts: what a producer writes, a consumer reads back unchanged."""

from __future__ import annotations

import time

import orjson
import pytest
from pydantic import ValidationError

from agent_common.errors import ErrorClass, ErrorCode, ErrorInfo, PlatformError
from agent_common.messages import ChatRequested, ToolCallCompleted, ToolCallRequested, ToolOutcome


def chat(**overrides: object) -> ChatRequested:
    fields: dict[str, object] = {
        "request_id": "req_1",
        "session_id": "ses_1",
        "user_id": "u1",
        "message": "안녕 hello",
        "deadline_at": time.time() + 60,
    }
    fields.update(overrides)
    return ChatRequested(**fields)  # type: ignore[arg-type]


def test_chat_request_round_trips_through_bytes() -> None:
    message = chat()
    assert ChatRequested.model_validate_json(message.to_bytes()) == message


def test_chat_requests_are_keyed_by_session_so_turns_stay_in_order() -> None:
    assert chat(request_id="a").partition_key() == chat(request_id="b").partition_key() == "ses_1"


def test_tool_messages_are_keyed_by_request() -> None:
    call = ToolCallRequested(
        request_id="req_9",
        session_id="s",
        user_id="u",
        call_id="c",
        tool="http_get",
        arguments={"url": "http://x"},
        deadline_at=0,
    )
    assert call.partition_key() == "req_9"
    assert call.topic == "tool.calls"


def test_every_message_gets_a_distinct_id_for_idempotency() -> None:
    assert chat().message_id != chat().message_id


def test_unknown_schema_version_is_refused() -> None:
    raw = orjson.loads(chat().to_bytes())
    raw["schema_version"] = 2
    with pytest.raises(ValidationError):
        ChatRequested.model_validate(raw)


def test_unexpected_fields_are_refused() -> None:
    raw = orjson.loads(chat().to_bytes())
    raw["surprise"] = True
    with pytest.raises(ValidationError):
        ChatRequested.model_validate(raw)


def test_tool_outcome_for_model_carries_output_and_classified_error() -> None:
    ok = ToolOutcome(ok=True, output={"url": "http://a", "status": 200, "text": "hi"})
    assert orjson.loads(ok.for_model()) == {"ok": True, "url": "http://a", "status": 200, "text": "hi"}
    failed = ToolOutcome(
        ok=False,
        output={"url": "http://b"},
        error=ErrorInfo.of(ErrorCode.TOOL_URL_NOT_ALLOWED, "not allowed", host="b"),
    )
    body = orjson.loads(failed.for_model())
    assert body["ok"] is False and body["url"] == "http://b"
    assert body["error"] == {
        "class": "tool",
        "code": "TOOL_URL_NOT_ALLOWED",
        "message": "not allowed",
        "details": {"host": "b"},
    }


def test_the_model_is_told_which_fields_of_its_call_failed() -> None:
    problems = [{"field": "url", "problem": "'url' is a required property"}]
    failed = ToolOutcome(ok=False, error=ErrorInfo.of(ErrorCode.TOOL_INPUT_INVALID, "bad arguments", errors=problems))
    assert orjson.loads(failed.for_model())["error"]["details"]["errors"] == problems


def test_tool_call_completed_round_trips() -> None:
    done = ToolCallCompleted(
        request_id="r",
        session_id="s",
        user_id="u",
        call_id="c",
        tool="http_get",
        outcome=ToolOutcome(ok=False, error=ErrorInfo.of(ErrorCode.TOOL_TIMEOUT, "slow")),
    )
    assert ToolCallCompleted.model_validate_json(done.to_bytes()) == done


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_has_a_class_and_an_http_status(code: ErrorCode) -> None:
    info = ErrorInfo.of(code, "m")
    assert info.error_class in set(ErrorClass)
    assert 400 <= info.http_status < 600


def test_error_info_serialises_its_class_under_the_documented_name() -> None:
    err = PlatformError(ErrorCode.INPUT_TOO_LARGE, "too long", limit=10)
    assert err.info.model_dump(mode="json") == {
        "class": "user_input",
        "code": "INPUT_TOO_LARGE",
        "message": "too long",
        "details": {"limit": 10},
    }
    assert err.info.http_status == 413
