"""The tool contract: every tool declared once, in its own module of `catalogue/`.

A catalogue module defines `SPEC = ToolSpec(...)`: the tool's name, the
description the model reads, the JSON Schema (2020-12) of its arguments, its
deadline and its output limit. The same schema object is served to the model as
the function's parameters and used by the tool runner to validate every call
before anything runs. The tool runner holds the code that runs each tool
(`agent_tool_runner.tools`); the orchestrator only ever sees the spec.
"""

from __future__ import annotations

from agent_common.tools.catalogue import discover_specs
from agent_common.tools.spec import ToolSpec

TOOL_SPECS: dict[str, ToolSpec] = discover_specs()

__all__ = ["TOOL_SPECS", "ToolSpec", "discover_specs"]
