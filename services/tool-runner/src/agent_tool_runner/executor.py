"""Runs one tool call: look it up, validate its arguments against the tool's
JSON Schema, run it under its deadline, bound its output, and classify whatever
goes wrong. Never raises: every failure becomes a `ToolOutcome` with a
classified error the model can read and correct itself from."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from jsonschema import Draft202012Validator

from agent_common.errors import ErrorCode, ErrorInfo, PlatformError
from agent_common.messages import ToolCallRequested, ToolOutcome
from agent_tool_runner.context import ToolContext
from agent_tool_runner.tools import Tool, discover_tools

log = logging.getLogger("agent.tool_runner")

TOOLS: dict[str, Tool] = discover_tools()
MAX_PROBLEMS = 10  # schema problems reported per call: enough to correct, bounded for the model's context
# Room for the fields around a tool's text (url, status...) on top of its output limit.
OUTPUT_ENVELOPE_CHARS = 2048


class ArgumentValidator:
    """The JSON Schema 2020-12 validators of a set of tools, each schema checked once, up front."""

    def __init__(self, tools: dict[str, Tool]) -> None:
        self._validators: dict[str, Draft202012Validator] = {}
        for name, tool in tools.items():
            Draft202012Validator.check_schema(tool.spec.parameters)
            self._validators[name] = Draft202012Validator(tool.spec.parameters)

    def problems(self, tool: str, arguments: dict[str, Any]) -> list[dict[str, str]]:
        """Each failed field (`a/b` for nested ones, `(arguments)` for the object itself) and what is wrong."""
        errors = sorted(self._validators[tool].iter_errors(arguments), key=lambda e: list(map(str, e.absolute_path)))
        return [
            {"field": "/".join(str(p) for p in error.absolute_path) or "(arguments)", "problem": error.message}
            for error in errors[:MAX_PROBLEMS]
        ]


def invalid_arguments(tool: str, problems: list[dict[str, str]]) -> ErrorInfo:
    listed = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return ErrorInfo.of(
        ErrorCode.TOOL_INPUT_INVALID,
        f"The arguments for {tool} do not match its schema ({listed}). Call it again with arguments that do.",
        errors=problems,
    )


class Executor:
    def __init__(self, ctx: ToolContext, tools: dict[str, Tool] | None = None) -> None:
        self.ctx = ctx
        self.tools = TOOLS if tools is None else tools
        self._validator = ArgumentValidator(self.tools)

    async def execute(self, call: ToolCallRequested) -> ToolOutcome:
        started = time.perf_counter()
        url = call.arguments.get("url")
        context = {"url": url[:2048]} if isinstance(url, str) else {}

        def failed(error: ErrorInfo) -> ToolOutcome:
            return ToolOutcome(ok=False, output=context, error=error, duration_ms=_ms_since(started))

        tool = self.tools.get(call.tool)
        if tool is None:
            return failed(
                ErrorInfo.of(
                    ErrorCode.TOOL_UNKNOWN,
                    f"There is no tool named {call.tool[:64]!r}; the tools are: {', '.join(sorted(self.tools))}.",
                    tool=call.tool[:64],
                    available=sorted(self.tools),
                )
            )
        if problems := self._validator.problems(call.tool, call.arguments):
            return failed(invalid_arguments(call.tool, problems))
        budget = min(tool.timeout_s(self.ctx.settings), call.deadline_at - time.time())
        if budget <= 0:
            return failed(ErrorInfo.of(ErrorCode.TOOL_TIMEOUT, "The request's deadline passed before the tool ran."))
        try:
            async with asyncio.timeout(budget):
                output = await tool.run(call.arguments, self.ctx)
        except TimeoutError:
            return failed(
                ErrorInfo.of(ErrorCode.TOOL_TIMEOUT, f"The tool did not finish within {budget:.1f} s.", limit_s=budget)
            )
        except PlatformError as exc:
            return failed(exc.info)
        except Exception:
            log.exception("tool failed unexpectedly", extra={"tool": call.tool})
            return failed(ErrorInfo.of(ErrorCode.TOOL_UNAVAILABLE, "The tool failed unexpectedly."))
        limit = tool.spec.max_output_chars + OUTPUT_ENVELOPE_CHARS
        if len(orjson.dumps(output).decode()) > limit:  # a tool bug must not flood the model's context
            log.error("tool output over its limit", extra={"tool": call.tool, "limit": limit})
            return failed(ErrorInfo.of(ErrorCode.TOOL_RESPONSE_TOO_LARGE, "The tool's output is over its limit."))
        return ToolOutcome(ok=True, output=output, duration_ms=_ms_since(started))


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
