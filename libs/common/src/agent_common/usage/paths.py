"""Expensive paths: what made a run cost more than it had to, by one definition shared by the
ledger writer's metrics (`usage_expensive_runs_total{path}`, and their alert) and the monthly
report's list of the costliest runs. See docs/cost.md#expensive-paths.

- `long_prompt`: a model call's prompt of `USAGE_LONG_PROMPT_TOKENS` or more (a long history,
  many retrieved passages, a large tool output read back);
- `retries`: a model call that failed and was tried again (its prompt paid twice, or more);
- `tool_calls`: `USAGE_MANY_TOOL_CALLS` tool calls or more (each result is read back by a step);
- `steps`: `USAGE_MANY_STEPS` model steps or more (each step sends the whole conversation again);
- `secondary_model`: a step answered by the secondary model (a fallback).
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_common.usage.entry import UsageEntry

PATHS = ("long_prompt", "retries", "tool_calls", "steps", "secondary_model")


@dataclass(frozen=True)
class PathThresholds:
    long_prompt_tokens: int = 8000
    many_tool_calls: int = 4
    many_steps: int = 3


def expensive_paths(entry: UsageEntry, thresholds: PathThresholds) -> dict[str, str]:
    """The paths `entry` took, each with what shows it (for people: "12040 tokens")."""
    found: dict[str, str] = {}
    longest = max((c.prompt_tokens for c in entry.model_calls), default=0)
    if longest >= thresholds.long_prompt_tokens:
        found["long_prompt"] = f"a prompt of {longest} tokens"
    retried = [
        c
        for c in entry.model_calls
        if c.error is not None
        and any(later.step == c.step and later is not c and later.error is None for later in entry.model_calls)
    ]
    if retried:
        found["retries"] = f"{len(retried)} failed call(s) tried again"
    if len(entry.tool_calls) >= thresholds.many_tool_calls:
        found["tool_calls"] = f"{len(entry.tool_calls)} tool calls"
    if entry.steps >= thresholds.many_steps:
        found["steps"] = f"{entry.steps} steps"
    if any(c.role == "secondary" and c.error is None for c in entry.model_calls):
        found["secondary_model"] = "answered by the secondary model"
    return found
