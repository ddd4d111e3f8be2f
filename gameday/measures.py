"""What the client's samples say: the baseline before any fault, whether a stretch of
traffic is "normal" (error rate and p95 as in the baseline), when that came back after a
fault (recovery time), and the error rate and p95 over time for the chart."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from gameday.traffic import Sample

__all__ = ["Baseline", "ClientView", "baseline_of", "client_view", "in_flight", "recovered_at", "series"]


def p95(latencies: Sequence[float]) -> float:
    """The nearest-rank 95th percentile (0 for no samples)."""
    if not latencies:
        return 0.0
    ordered = sorted(latencies)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Baseline:
    error_rate: float
    p95_s: float

    @property
    def error_rate_limit(self) -> float:
        """Normal: no worse than the baseline and one request in twenty."""
        return max(self.error_rate, 0.05)

    @property
    def p95_limit_s(self) -> float:
        """Normal: within half again the baseline's p95, and at least a second of slack."""
        return max(self.p95_s * 1.5, self.p95_s + 1.0)


def baseline_of(samples: Sequence[Sample]) -> Baseline:
    if not samples:
        raise ValueError("no traffic before the first fault: no baseline to compare with")
    errors = sum(not s.ok for s in samples)
    return Baseline(errors / len(samples), p95([s.latency_s for s in samples]))


def _normal(window: Sequence[Sample], baseline: Baseline) -> bool:
    errors = sum(not s.ok for s in window) / len(window)
    return errors <= baseline.error_rate_limit and p95([s.latency_s for s in window]) <= baseline.p95_limit_s


def recovered_at(
    samples: Sequence[Sample], since: float, baseline: Baseline, *, window_s: float, min_requests: int = 5
) -> float | None:
    """The first time at or after `since` from which the requests started within `window_s` were
    normal (and at least `min_requests` of them); None while that is not yet known."""
    started = sorted((s for s in samples if s.started_at >= since), key=lambda s: s.started_at)
    for i, first in enumerate(started):
        window = [s for s in started[i:] if s.started_at < first.started_at + window_s]
        later = [s for s in started[i:] if s.started_at >= first.started_at + window_s]
        if len(window) >= min_requests and later and _normal(window, baseline):
            return first.started_at
    return None


@dataclass(frozen=True)
class ClientView:
    requests: int
    affected: int  # not `done`: refused, errors, lost
    errors_by_code: dict[str, int]
    fallbacks_shown: int
    lost: int


def in_flight(samples: Sequence[Sample], began: float, until: float) -> list[Sample]:
    """The requests a fault could touch: in flight at some moment of [`began`, `until`), those
    already on their way when it struck included (a request stuck on a killed replica from
    before the kill to after the recovery is the scenario's, not the baseline's)."""
    return [s for s in samples if s.started_at < until and s.ended_at > began]


def client_view(samples: Sequence[Sample]) -> ClientView:
    codes = Counter(s.code for s in samples if not s.ok)
    return ClientView(
        requests=len(samples),
        affected=sum(not s.ok for s in samples),
        errors_by_code=dict(codes.most_common()),
        fallbacks_shown=sum(s.fallback_shown for s in samples),
        lost=sum(s.outcome == "lost" for s in samples),
    )


def series(samples: Sequence[Sample], start: float, step_s: float) -> list[tuple[float, float, float, int]]:
    """(seconds since `start`, error rate, p95 s, requests) per `step_s` bucket of start times."""
    buckets: dict[int, list[Sample]] = {}
    for sample in samples:
        buckets.setdefault(int((sample.started_at - start) // step_s), []).append(sample)
    return [
        (k * step_s, sum(not s.ok for s in b) / len(b), p95([s.latency_s for s in b]), len(b))
        for k, b in sorted(buckets.items())
    ]
