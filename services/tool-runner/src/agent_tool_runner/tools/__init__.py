"""The code that runs each tool: one module per tool, each defining `TOOL`.

`TOOL` binds a spec from `agent_common.tools` (what the model is told, and the
limits) to the async function that runs it. Modules are found here, so a new
tool is its spec module in `agent_common/tools/catalogue/` and its module here,
and no list anywhere is edited. The tool runner refuses to start when a spec
has no implementation or an implementation no spec: the orchestrator offers the
model exactly the specs, so the two must agree.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from agent_common.tools import TOOL_SPECS, ToolSpec
from agent_common.tools.discovery import defined_in_modules
from agent_tool_runner.context import ToolContext
from agent_tool_runner.settings import ToolSettings

ToolFunction = Callable[[dict[str, Any], ToolContext], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Tool:
    spec: ToolSpec
    run: ToolFunction
    """Called with arguments already valid against `spec.parameters`; raises `PlatformError` to fail."""
    configured_timeout_s: Callable[[ToolSettings], float] | None = None
    """The deployment's deadline for this tool, when a setting overrides `spec.timeout_s`."""

    def timeout_s(self, settings: ToolSettings) -> float:
        return self.configured_timeout_s(settings) if self.configured_timeout_s else self.spec.timeout_s


def discover_tools(
    package: str = __name__,
    paths: Iterable[str] = __path__,
    specs: Mapping[str, ToolSpec] = TOOL_SPECS,
) -> dict[str, Tool]:
    """Every `TOOL` in the modules of `package`, checked against the specs one to one."""
    tools: dict[str, Tool] = {}
    for module, tool in defined_in_modules(package, paths, "TOOL"):
        if not isinstance(tool, Tool):
            raise TypeError(f"{module}.TOOL must be a Tool")
        if specs.get(tool.spec.name) is not tool.spec:
            raise ValueError(f"{module}: its spec is not the one agent_common.tools declares")
        tools[tool.spec.name] = tool
    if missing := sorted(set(specs) - set(tools)):
        raise ValueError(f"tools declared but not implemented: {', '.join(missing)}")
    return tools
