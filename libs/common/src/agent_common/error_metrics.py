"""Errors counted by class and code, on whichever service reports them.

`origin` says who counted it: `http` is the gateway, for each error body it
answers; `run` is the orchestrator, for each run that ends in an error event
(streamed or not), and the gateway, for a run it ends itself (its request could
not be published, the bus stayed away, the deadline passed, its events were
lost). A failed non-streaming run is therefore counted once as `run` and once
as `http`: sum one origin at a time. Every label is a closed
set (`http`/`run`, `ErrorClass`, `ErrorCode`), so the series stay bounded, and
each service exports all of its origin's at 0 from start-up (`initialise_series`).
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter

from agent_common.errors import ERROR_CLASS_OF, ErrorInfo

ERRORS = Counter(
    "platform_errors_total",
    "Errors reported to clients (HTTP error bodies, run error events), by error class and code.",
    ["origin", "error_class", "code"],
)


def initialise_series(origin: Literal["http", "run"]) -> None:
    """Export every code, with the one class it carries, at 0 from start-up: a series born
    on its first increment has no earlier sample, so `rate()` and `increase()` would miss
    the first burst (a first outage would raise no alert)."""
    for code, error_class in ERROR_CLASS_OF.items():
        ERRORS.labels(origin, error_class.value, code.value)


def record_error(info: ErrorInfo, origin: Literal["http", "run"]) -> None:
    ERRORS.labels(origin, info.error_class.value, info.code.value).inc()
