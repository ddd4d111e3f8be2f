"""The tool contract: each tool declared once, with the JSON Schema of its input.

The same schema object is served to the model as the function's parameters and
used by the tool runner to validate a call before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema (2020-12) of the arguments object

    def as_openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }


HTTP_GET = ToolSpec(
    name="http_get",
    description=(
        "Fetch a web page or HTTP resource by URL and return its text. "
        "Only hosts on the operator's allowlist can be fetched."
    ),
    parameters={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "description": "Absolute http(s) URL to fetch.",
                "minLength": 1,
                "maxLength": 2048,
            }
        },
        "required": ["url"],
        "additionalProperties": False,
    },
)

TOOL_SPECS: dict[str, ToolSpec] = {spec.name: spec for spec in (HTTP_GET,)}
