"""Which code runs each tool. A tool is its spec (agent_common.tools) plus one
async function here; adding a tool is one module and one line."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from agent_tool_runner.context import ToolContext
from agent_tool_runner.http_get import http_get

ToolFunction = Callable[[dict[str, Any], ToolContext], Awaitable[dict[str, Any]]]

TOOL_FUNCTIONS: dict[str, ToolFunction] = {
    "http_get": http_get,
}
