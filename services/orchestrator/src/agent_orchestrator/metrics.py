"""The orchestrator's Prometheus metrics. Labels stay bounded: no ids, no URLs."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
