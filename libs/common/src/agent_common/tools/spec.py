"""`ToolSpec`: what the model is told about a tool, and the limits it runs under."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

# OpenAI's rule for function names, which every compatible server follows.
_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema (2020-12) of the arguments object: served to the model and used to validate."""
    timeout_s: float
    """Deadline for one call, unless a deployment setting overrides it (the request's deadline still bounds it)."""
    max_output_chars: int
    """Most characters of text the model is given back; longer output is cut, with a marker that says so."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"tool name {self.name!r} must match {_NAME.pattern}")
        if self.parameters.get("type") != "object":
            raise ValueError(f"tool {self.name}: the arguments schema must describe an object")
        if self.timeout_s <= 0 or self.max_output_chars <= 0:
            raise ValueError(f"tool {self.name}: timeout and output limit must be positive")

    def as_openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }
