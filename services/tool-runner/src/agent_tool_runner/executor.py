"""Runs one tool call: look it up, validate its arguments against the tool's
JSON Schema, run it under its deadline, and classify whatever goes wrong.
Never raises: every failure becomes a `ToolOutcome` with a classified error."""

from __future__ import annotations

import asyncio
import logging
import time

from jsonschema import Draft202012Validator

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.messages import ToolCallRequested, ToolOutcome
from agent_common.tools import TOOL_SPECS
from agent_tool_runner.context import ToolContext
from agent_tool_runner.registry import TOOL_FUNCTIONS

log = logging.getLogger("agent.tool_runner")

_VALIDATORS = {name: Draft202012Validator(spec.parameters) for name, spec in TOOL_SPECS.items()}
for _validator in _VALIDATORS.values():
    Draft202012Validator.check_schema(_validator.schema)


def _invalid_arguments(tool: str, arguments: dict[str, object]) -> ErrorInfo | None:
    problems = [
        {"field": "/".join(str(p) for p in error.absolute_path) or "(arguments)", "problem": error.message}
        for error in sorted(_VALIDATORS[tool].iter_errors(arguments), key=lambda e: list(e.absolute_path))
    ]
    if not problems:
        return None
    return ErrorInfo.of(
        ErrorCode.TOOL_INPUT_INVALID,
        f"The arguments for {tool} do not match its schema: "
        + "; ".join(f"{p['field']}: {p['problem']}" for p in problems[:5]),
        errors=problems[:10],
    )


async def execute(call: ToolCallRequested, ctx: ToolContext) -> ToolOutcome:
    started = time.perf_counter()
    context = {"url": call.arguments["url"]} if isinstance(call.arguments.get("url"), str) else {}

    def failed(error: ErrorInfo) -> ToolOutcome:
        return ToolOutcome(ok=False, output=context, error=error, duration_ms=_ms_since(started))

    function = TOOL_FUNCTIONS.get(call.tool)
    if function is None or call.tool not in TOOL_SPECS:
        return failed(ErrorInfo.of(ErrorCode.TOOL_UNKNOWN, f"There is no tool named {call.tool!r}.", tool=call.tool))
    invalid = _invalid_arguments(call.tool, call.arguments)
    if invalid is not None:
        return failed(invalid)
    budget = min(ctx.settings.http_timeout_s, call.deadline_at - time.time())
    if budget <= 0:
        return failed(ErrorInfo.of(ErrorCode.TOOL_TIMEOUT, "The request's deadline passed before the tool ran."))
    try:
        async with asyncio.timeout(budget):
            output = await function(call.arguments, ctx)
    except TimeoutError:
        return failed(ErrorInfo.of(ErrorCode.TOOL_TIMEOUT, f"The tool did not finish within {budget:.1f} s."))
    except PlatformError as exc:
        return failed(exc.info)
    except Exception:
        log.exception("tool failed unexpectedly", extra={"tool": call.tool})
        return failed(ErrorInfo.of(ErrorCode.TOOL_UNAVAILABLE, "The tool failed unexpectedly."))
    return ToolOutcome(ok=True, output=output, duration_ms=_ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
