"""A circuit breaker per upstream that opens on a failure *rate* over a window.

Closed: calls go through and their outcomes fill a sliding window of the last
`window` calls. When the window holds at least `min_calls` outcomes and the
share of failures reaches `failure_rate`, the breaker opens. Open: calls fail
fast (`BreakerOpen`) for `open_s`. Then half-open: `trial_calls` calls go
through; if they all succeed the breaker closes with an empty window, and any
failure opens it again.

Why not a library: the maintained asyncio breakers (purgatory, aiobreaker)
count *consecutive* failures, and pybreaker's async support is Tornado's. A
rate over a window is what tells "this endpoint fails 60% of the time" from
"two unlucky calls"; this is that state machine and nothing else.

State is per process (per replica): no round trip on the hot path, no shared
fate with Redis, and each replica learns from its own calls within a few of
them. The cost is that N replicas let through up to N x `trial_calls` trial
calls when an upstream recovers, which is what a recovering upstream can take.
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import IntEnum

from prometheus_client import REGISTRY, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class BreakerState(IntEnum):
    """The gauge's values: 0 closed, 1 half-open, 2 open."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class BreakerStates(Collector):
    """`circuit_breaker_state`, computed when scraped from each breaker's own clock: a gauge set
    on transitions would read "open" until the next call, long after the breaker let calls
    through again. Breakers are held weakly: one that is gone stops being exported."""

    def __init__(self) -> None:
        self._breakers: weakref.WeakValueDictionary[str, CircuitBreaker] = weakref.WeakValueDictionary()

    def add(self, label: str, breaker: CircuitBreaker) -> None:
        self._breakers[label] = breaker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "circuit_breaker_state",
            "Circuit breaker state per upstream: 0 closed, 1 half-open, 2 open (as of the scrape).",
            labels=["breaker"],
        )
        for label, breaker in sorted(self._breakers.items()):
            family.add_metric([label], int(breaker.observed_state()))
        yield family


BREAKER_STATES = BreakerStates()
REGISTRY.register(BREAKER_STATES)
BREAKER_TRANSITIONS = Counter(
    "circuit_breaker_transitions_total", "Circuit breaker state changes, by upstream and new state.", ["breaker", "to"]
)


@dataclass(frozen=True)
class BreakerSettings:
    window: int = 20
    """Outcomes remembered, the most recent ones."""
    min_calls: int = 5
    """Outcomes needed in the window before the rate can open the breaker."""
    failure_rate: float = 0.5
    """Share of failures in the window that opens the breaker."""
    open_s: float = 30.0
    """How long the breaker stays open before it lets trial calls through."""
    trial_calls: int = 2
    """Calls let through half-open; all must succeed to close."""


class BreakerOpen(Exception):
    """The upstream's breaker is open: the call was not made."""

    def __init__(self, name: str, retry_in_s: float) -> None:
        super().__init__(f"circuit {name} is open")
        self.name = name
        self.retry_in_s = retry_in_s


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        settings: BreakerSettings,
        clock: Callable[[], float] = time.monotonic,
        metric_label: str | None = None,
    ) -> None:
        self.name = name
        self._settings = settings
        self._clock = clock
        self._label = metric_label  # None: not exported (unbounded names, e.g. one per host)
        self._outcomes: deque[bool] = deque(maxlen=settings.window)  # True = failure
        self._state = BreakerState.CLOSED
        self._opened_at = 0.0
        self._trials_left = 0
        self._trial_successes = 0
        if metric_label is not None:
            BREAKER_STATES.add(metric_label, self)

    @property
    def state(self) -> BreakerState:
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._settings.open_s:
            self._move(BreakerState.HALF_OPEN)
            self._trials_left, self._trial_successes = self._settings.trial_calls, 0
        return self._state

    def observed_state(self) -> BreakerState:
        """The state as of now, without moving the breaker (what a scrape, from any thread, reads)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self._settings.open_s:
            return BreakerState.HALF_OPEN
        return self._state

    def before_call(self) -> None:
        """Raise `BreakerOpen` unless a call may go through now (a half-open trial uses up one slot)."""
        state = self.state
        if state is BreakerState.OPEN:
            raise BreakerOpen(self.name, self._settings.open_s - (self._clock() - self._opened_at))
        if state is BreakerState.HALF_OPEN:
            if self._trials_left <= 0:
                raise BreakerOpen(self.name, 1.0)
            self._trials_left -= 1

    def record_success(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._trial_successes += 1
            if self._trial_successes >= self._settings.trial_calls:
                self._outcomes.clear()
                self._move(BreakerState.CLOSED)
            return
        self._outcomes.append(False)

    def record_failure(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._open()
            return
        self._outcomes.append(True)
        window = len(self._outcomes)
        if window >= self._settings.min_calls and sum(self._outcomes) / window >= self._settings.failure_rate:
            self._open()

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN)

    def _move(self, state: BreakerState) -> None:
        if state is self._state:
            return
        self._state = state
        if self._label is not None:
            BREAKER_TRANSITIONS.labels(self._label, state.name.lower()).inc()


class CircuitBreakers:
    """One breaker per key (an upstream host, say), created on first use; idle closed
    breakers are forgotten beyond `max_idle`, so the set cannot grow without bound."""

    def __init__(self, settings: BreakerSettings, max_idle: int = 1024) -> None:
        self._settings = settings
        self._max_idle = max_idle
        self._breakers: dict[str, CircuitBreaker] = {}

    def __getitem__(self, key: str) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            if len(self._breakers) >= self._max_idle:
                self._forget_closed()
            breaker = self._breakers[key] = CircuitBreaker(key, self._settings)
        return breaker

    def open_count(self) -> int:
        """Breakers refusing calls now (open; a half-open one lets the next call through).
        Read without moving any breaker, so a scrape may call it from another thread."""
        return sum(1 for b in list(self._breakers.values()) if b.observed_state() is BreakerState.OPEN)

    def _forget_closed(self) -> None:
        for key in [k for k, b in self._breakers.items() if b.state is BreakerState.CLOSED]:
            del self._breakers[key]
