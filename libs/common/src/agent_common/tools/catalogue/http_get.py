"""`http_get`: fetch one page from an allowlisted host and read its text."""

from __future__ import annotations

from agent_common.tools.spec import ToolSpec

SPEC = ToolSpec(
    name="http_get",
    description=(
        "Fetch a web page or HTTP resource by URL and return its readable text. "
        "Only hosts on the operator's allowlist can be fetched; a refusal says why."
    ),
    parameters={
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "description": "Absolute http(s) URL to fetch, such as https://docs.example.com/page.",
                "minLength": 1,
                "maxLength": 2048,
            }
        },
        "required": ["url"],
        "additionalProperties": False,
    },
    timeout_s=4.0,  # the mission's 3-5 s band; TOOL_HTTP_TIMEOUT_S overrides it per deployment
    max_output_chars=8000,
)
