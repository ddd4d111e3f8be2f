"""The orchestrator's Prometheus metrics. Labels stay bounded: no ids, no URLs."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

from agent_common.errors import ERROR_CLASS_OF, ErrorClass

RUNS = Counter("orchestrator_runs_total", "Runs finished, by outcome and error class.", ["outcome", "error_class"])
RUNS_IN_FLIGHT = Gauge(
    "orchestrator_runs_in_flight", "Chat runs this replica is working on now (at most ORCHESTRATOR_MAX_RUNS)."
)
RUN_TAKEOVERS = Counter(
    "orchestrator_run_takeovers_total",
    "Runs, or steps after tools, this replica took over after their lease ran out (their replica died).",
)
MODEL_CALLS = Counter("llm_calls_total", "Model calls, by model and outcome.", ["model", "outcome"])
MODEL_TTFT = Histogram(
    "llm_time_to_first_token_seconds",
    "Time from the model call to its first streamed chunk.",
    ["model"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
MODEL_TOKENS = Counter("llm_tokens_total", "Tokens used, by model and direction.", ["model", "direction"])
MODEL_RETRIES = Counter(
    "llm_retries_total", "Model calls retried, by model and the error that caused it.", ["model", "code"]
)
MODEL_FALLBACKS = Counter("llm_secondary_calls_total", "Model steps handed to the secondary model.", ["model"])

RUNS_ABANDONED = Counter(
    "orchestrator_runs_abandoned_total",
    "Runs stopped because nobody received their events for ORCHESTRATOR_RESUME_WINDOW_S (RUN_ABANDONED).",
)
MODEL_FINISHES = Counter(
    "llm_finish_reasons_total",
    "Model calls that finished, by model and finish reason (`length`: cut off at the output cap).",
    ["model", "finish_reason"],
)

TOOL_CALLS_REFUSED = Counter(
    "orchestrator_tool_calls_refused_total",
    "Tool calls the model asked for past a cap, not run (TOOL_CALL_LIMIT), by the cap: `step` or `turn`.",
    ["scope"],
)


def initialise_series(models: Iterable[str]) -> None:
    """Export, at 0 from start-up, every series the alerts and dashboards read: a series
    born on its first increment has no earlier sample, so `rate()` would miss the first
    burst (a first model outage would raise no alert)."""
    RUNS.labels("done", "")
    for scope in ("step", "turn"):
        TOOL_CALLS_REFUSED.labels(scope)
    for error_class in ErrorClass:
        RUNS.labels("error", error_class.value)
    model_codes = [code.value for code, error_class in ERROR_CLASS_OF.items() if error_class is ErrorClass.MODEL]
    for model in models:
        MODEL_TTFT.labels(model)
        for direction in ("input", "output"):
            MODEL_TOKENS.labels(model, direction)
        for outcome in ("ok", *model_codes):
            MODEL_CALLS.labels(model, outcome)
        for code in model_codes:
            MODEL_RETRIES.labels(model, code)
