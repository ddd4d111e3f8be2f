"""The ledger's Prometheus metrics: what runs used and cost, by tenant and model only.

Incremented by the ledger writer for entries it stores, never for a redelivered one, so a
sum over replicas is the platform's. Labels stay bounded: never a user, key or request id.
Tool calls' costs count under `model="tool:<name>"`."""

from __future__ import annotations

from prometheus_client import Counter

from agent_common.usage.paths import PATHS

USAGE_TOKENS = Counter(
    "usage_tokens_total",
    "Tokens the stored usage entries used, by tenant, model and kind (`prompt` or `completion`).",
    ["tenant", "model", "kind"],
)
USAGE_COST = Counter(
    "usage_cost_total",
    "Estimated cost of the stored usage entries in the price file's currency, by tenant and model "
    "(tools as `tool:<name>`).",
    ["tenant", "model"],
)
LEDGER_WRITES = Counter(
    "usage_ledger_writes_total",
    "Usage entries the ledger writer took: `stored`; `duplicate` (a redelivery, already stored and counted);"
    " `counted_late` (stored by a writer that stopped before counting it).",
    ["result"],
)
LEDGER_UNAVAILABLE = Counter(
    "usage_ledger_unavailable_total",
    "Ledger writes that failed because its store was unreachable (each is tried again, the entry held).",
)
# Not by model: a name the price file lacks is whatever a provider reports; the log names it.
UNPRICED = Counter(
    "usage_unpriced_total",
    "Model calls and tool calls stored with no price in the price file on their date (counted as costing nothing).",
)


EXPENSIVE_RUNS = Counter(
    "usage_expensive_runs_total",
    "Stored runs that took an expensive path: long_prompt, retries, tool_calls, steps, secondary_model "
    "(a run may take several).",
    ["path"],
)


def initialise_series() -> None:
    for result in ("stored", "duplicate", "counted_late"):
        LEDGER_WRITES.labels(result)
    for path in PATHS:
        EXPENSIVE_RUNS.labels(path)
