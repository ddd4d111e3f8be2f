"""The tool runner's Prometheus metrics. Labels stay bounded: no URLs, no hosts,
and a tool name the model made up is counted as `unknown`."""

from __future__ import annotations

from collections.abc import Container, Iterable

from prometheus_client import Counter, Gauge, Histogram

from agent_common.errors import ERROR_CLASS_OF, ErrorClass, ErrorCode
from agent_common.messages import ToolOutcome

TOOL_CALLS = Counter(
    "tool_calls_total",
    "Tool calls finished, by tool and outcome (ok, error, timeout, blocked).",
    ["tool", "outcome"],
)
TOOL_ERRORS = Counter(
    "tool_call_errors_total",
    "Tool calls that failed, by tool and error code.",
    ["tool", "code"],
)
OPEN_BREAKERS = Gauge(
    "tool_host_breakers_open",
    "Upstream hosts whose circuit breaker is open (refusing calls) as of the scrape, per tool runner replica.",
)
TOOL_DURATION = Histogram(
    "tool_call_duration_seconds",
    "Time to execute a tool call, by tool.",
    ["tool"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 4, 5, 10),
)


OUTCOMES = ("ok", "error", "timeout", "blocked")


def initialise_series(tools: Iterable[str]) -> None:
    """Export every tool's outcomes and error codes at 0 from start-up, so the first
    timeouts or failures after a start show in `rate()` (a series born on its first
    increment has no earlier sample)."""
    codes = [code.value for code, error_class in ERROR_CLASS_OF.items() if error_class is ErrorClass.TOOL]
    for tool in (*tools, "unknown"):
        TOOL_DURATION.labels(tool)
        for outcome in OUTCOMES:
            TOOL_CALLS.labels(tool, outcome)
        for code in codes:
            TOOL_ERRORS.labels(tool, code)


def outcome_label(outcome: ToolOutcome) -> str:
    """ok / timeout / blocked / error: timeouts and refusals are counted apart,
    so a tool timeout rate and a blocked rate can be read straight off."""
    if outcome.ok:
        return "ok"
    code = outcome.error.code if outcome.error else None
    if code == ErrorCode.TOOL_TIMEOUT:
        return "timeout"
    if code == ErrorCode.TOOL_URL_NOT_ALLOWED:
        return "blocked"
    return "error"


def tool_label(tool: str, known_tools: Container[str]) -> str:
    """The model names the tool: a name the runner does not know is `unknown` in labels and span names."""
    return tool if tool in known_tools else "unknown"


def record(tool: str, outcome: ToolOutcome, known_tools: Container[str]) -> str:
    """Count one finished call; returns its outcome label."""
    name = tool_label(tool, known_tools)
    label = outcome_label(outcome)
    TOOL_CALLS.labels(name, label).inc()
    TOOL_DURATION.labels(name).observe(outcome.duration_ms / 1000)
    if outcome.error is not None:
        TOOL_ERRORS.labels(name, outcome.error.code.value).inc()
    return label
