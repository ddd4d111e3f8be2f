"""Every call is validated against its tool's JSON Schema before anything runs,
and every failure is a classified outcome the model can read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from agent_common.errors import ErrorCode, PlatformError
from agent_common.tools import ToolSpec
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import Executor
from agent_tool_runner.tools import Tool
from tests.tool_runner.conftest import call, error_code, settings_for


@pytest.mark.parametrize(
    ("arguments", "field", "problem"),
    [
        ({}, "(arguments)", "'url' is a required property"),
        ({"url": 42}, "url", "42 is not of type 'string'"),
        ({"url": ["http://a.test/"]}, "url", "is not of type 'string'"),
        ({"url": "http://127.0.0.1/", "method": "POST"}, "(arguments)", "Additional properties are not allowed"),
        ({"url": ""}, "url", "should be non-empty"),
        ({"url": "http://a.test/" + "x" * 3000}, "url", "is too long"),
    ],
)
async def test_arguments_that_break_the_schema_say_which_field_and_why(
    executor: Executor, arguments: dict[str, object], field: str, problem: str
) -> None:
    outcome = await executor.execute(call(arguments))
    assert error_code(outcome) == ErrorCode.TOOL_INPUT_INVALID
    assert outcome.error is not None
    problems = outcome.error.details["errors"]
    assert isinstance(problems, list)
    assert any(p["field"] == field and problem in p["problem"] for p in problems), problems
    # The model reads the same problems in its tool message, and is told to call again.
    for_model = orjson.loads(outcome.for_model())["error"]
    assert for_model["code"] == "TOOL_INPUT_INVALID" and for_model["details"]["errors"] == problems
    assert "Call it again" in for_model["message"]


async def test_a_call_with_many_problems_reports_a_bounded_list(executor: Executor) -> None:
    spec = ToolSpec(
        name="many",
        description="d",
        parameters={"type": "object", "properties": {f"f{i}": {"type": "integer"} for i in range(30)}},
        timeout_s=1,
        max_output_chars=10,
    )

    async def never(_: dict[str, Any], __: ToolContext) -> dict[str, Any]:
        raise AssertionError("an invalid call must not run")

    many = Executor(executor.ctx, {"many": Tool(spec, never)})
    outcome = await many.execute(call({f"f{i}": "x" for i in range(30)}, tool="many"))
    assert error_code(outcome) == ErrorCode.TOOL_INPUT_INVALID
    assert outcome.error is not None and len(outcome.error.details["errors"]) == 10  # type: ignore[arg-type]


async def test_an_unknown_tool_is_refused_and_the_real_ones_named(executor: Executor) -> None:
    outcome = await executor.execute(call({"cmd": "rm -rf /"}, tool="shell"))
    assert error_code(outcome) == ErrorCode.TOOL_UNKNOWN
    assert outcome.error is not None and outcome.error.details["available"] == ["http_get"]


def tool_returning(output: dict[str, Any] | Exception, max_output_chars: int = 100) -> Tool:
    spec = ToolSpec(
        name="probe",
        description="d",
        parameters={"type": "object", "properties": {}},
        timeout_s=1,
        max_output_chars=max_output_chars,
    )

    async def run(_: dict[str, Any], __: ToolContext) -> dict[str, Any]:
        if isinstance(output, Exception):
            raise output
        return output

    return Tool(spec, run)


async def test_output_over_the_tools_limit_never_reaches_the_model(upstream_port: int) -> None:
    ctx = ToolContext.create(settings_for(upstream_port))
    try:
        executor = Executor(ctx, {"probe": tool_returning({"text": "가" * 5000})})
        outcome = await executor.execute(call({}, tool="probe"))
    finally:
        await ctx.aclose()
    assert error_code(outcome) == ErrorCode.TOOL_RESPONSE_TOO_LARGE


@pytest.mark.parametrize(
    ("raised", "code"),
    [
        (PlatformError(ErrorCode.TOOL_UPSTREAM_UNREACHABLE, "gone"), ErrorCode.TOOL_UPSTREAM_UNREACHABLE),
        (RuntimeError("a bug"), ErrorCode.TOOL_UNAVAILABLE),
    ],
)
async def test_a_failing_tool_becomes_a_classified_outcome(
    upstream_port: int, raised: Exception, code: ErrorCode
) -> None:
    ctx = ToolContext.create(settings_for(upstream_port))
    try:
        outcome = await Executor(ctx, {"probe": tool_returning(raised)}).execute(call({}, tool="probe"))
    finally:
        await ctx.aclose()
    assert error_code(outcome) == code
    assert "a bug" not in outcome.for_model()  # an internal failure's text stays in the log
