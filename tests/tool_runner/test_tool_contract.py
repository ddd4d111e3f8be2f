"""The tool contract: one spec per tool, served to the model and used to
validate; a new tool is a spec module and an implementation module, nothing else."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from agent_common.tools import TOOL_SPECS, ToolSpec, discover_specs
from agent_orchestrator.loop import AgentLoop
from agent_tool_runner.context import ToolContext
from agent_tool_runner.executor import TOOLS, Executor
from agent_tool_runner.tools import discover_tools
from tests.tool_runner.conftest import call, error_code, settings_for


def test_every_declared_tool_has_an_implementation_bound_to_the_same_spec_object() -> None:
    assert set(TOOLS) == set(TOOL_SPECS) == {"http_get"}
    for name, tool in TOOLS.items():
        assert tool.spec is TOOL_SPECS[name]


@pytest.mark.parametrize("name", sorted(TOOL_SPECS))
def test_each_schema_is_valid_json_schema_2020_12(name: str) -> None:
    Draft202012Validator.check_schema(TOOL_SPECS[name].parameters)


def test_the_model_is_offered_exactly_the_specs_the_runner_validates_with() -> None:
    offered = AgentLoop.openai_tools(TOOL_SPECS)
    assert [t["function"]["name"] for t in offered] == sorted(TOOL_SPECS)
    for tool in offered:
        assert tool["function"]["parameters"] is TOOL_SPECS[tool["function"]["name"]].parameters


@pytest.mark.parametrize(
    "bad",
    [
        {"name": "has space", "parameters": {"type": "object"}},
        {"name": "ok", "parameters": {"type": "string"}},
        {"name": "ok", "parameters": {"type": "object"}, "timeout_s": 0},
    ],
)
def test_a_malformed_spec_is_refused_when_declared(bad: dict[str, object]) -> None:
    values: dict[str, object] = {"description": "d", "timeout_s": 1.0, "max_output_chars": 10, **bad}
    with pytest.raises(ValueError, match="tool"):
        ToolSpec(**values)  # type: ignore[arg-type]


@pytest.fixture
def new_tool_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two fresh packages holding a new tool's spec module and its implementation module."""
    specs, impls = tmp_path / "extra_specs", tmp_path / "extra_impls"
    specs.mkdir()
    impls.mkdir()
    (specs / "__init__.py").write_text("")
    (impls / "__init__.py").write_text("")
    (specs / "word_count.py").write_text(
        textwrap.dedent(
            """
            from agent_common.tools import ToolSpec

            SPEC = ToolSpec(
                name="word_count",
                description="Count the words of a text.",
                parameters={
                    "type": "object",
                    "properties": {"text": {"type": "string", "maxLength": 1000}},
                    "required": ["text"],
                    "additionalProperties": False,
                },
                timeout_s=1.0,
                max_output_chars=100,
            )
            """
        )
    )
    (impls / "word_count.py").write_text(
        textwrap.dedent(
            """
            from extra_specs.word_count import SPEC
            from agent_tool_runner.tools import Tool

            async def word_count(arguments, ctx):
                return {"words": len(arguments["text"].split())}

            TOOL = Tool(spec=SPEC, run=word_count)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield str(specs), str(impls)  # type: ignore[misc]
    for name in [m for m in sys.modules if m.startswith(("extra_specs", "extra_impls"))]:
        del sys.modules[name]


async def test_a_new_tool_is_one_spec_module_and_one_implementation_module(
    new_tool_packages: tuple[str, str], upstream_port: int
) -> None:
    specs_path, impls_path = new_tool_packages
    specs = discover_specs("extra_specs", [specs_path])
    tools = discover_tools("extra_impls", [impls_path], specs)
    assert AgentLoop.openai_tools(specs)[0]["function"]["name"] == "word_count"
    ctx = ToolContext.create(settings_for(upstream_port))
    try:
        executor = Executor(ctx, tools)
        counted = await executor.execute(call({"text": "하나 둘 three"}, tool="word_count"))
        refused = await executor.execute(call({"text": 3}, tool="word_count"))
    finally:
        await ctx.aclose()
    assert counted.ok and counted.output == {"words": 3}
    assert error_code(refused) == "TOOL_INPUT_INVALID"


def test_a_spec_without_an_implementation_stops_the_runner_from_starting(
    new_tool_packages: tuple[str, str],
) -> None:
    specs_path, _ = new_tool_packages
    specs = {**TOOL_SPECS, **discover_specs("extra_specs", [specs_path])}
    with pytest.raises(ValueError, match="declared but not implemented: word_count"):
        discover_tools(specs=specs)
