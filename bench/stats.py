"""Percentiles and the summary every measurement is reported with."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest-rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(values: Sequence[float], scale: float = 1000.0) -> dict[str, float]:
    """p50/p95/p99 (and the count), in milliseconds by default."""
    return {
        "n": len(values),
        "p50": round(percentile(values, 50) * scale, 2),
        "p95": round(percentile(values, 95) * scale, 2),
        "p99": round(percentile(values, 99) * scale, 2),
    }
