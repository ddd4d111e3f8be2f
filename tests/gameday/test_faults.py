"""How a fault is judged: what the fault itself found wrong as it ran (the HPA scenario's
queue that the added replica never drained) fails the verdict as a missed alert does."""

from __future__ import annotations

from types import SimpleNamespace
from typing import cast

from gameday.faults import Detection, Fault, RunContext, judge
from gameday.traffic import Sample


async def _nothing() -> None:
    return None


def _context() -> RunContext:
    samples = [Sample(100.0 + t, 101.0 + t, "done", False, uses_tool=False) for t in range(10)]
    day = SimpleNamespace(notifications=SimpleNamespace(alerts=list))
    return cast(RunContext, SimpleNamespace(traffic=SimpleNamespace(samples=samples), day=day, recovery_timeout_s=45))


def test_a_fault_s_own_problem_fails_a_detected_and_recovered_scenario() -> None:
    fault = Fault("hpa-spike", "a spike", (), _nothing, _nothing, 60)
    detected = Detection("HPA scale-up", "policy", 105.0)
    assert judge(_context(), fault, 100, 110, 111, detected, 112, []).passed
    fault.problems.append("the spike was not absorbed by the added replica")
    outcome = judge(_context(), fault, 100, 110, 111, detected, 112, [])
    assert not outcome.passed
    assert outcome.failures == ["the spike was not absorbed by the added replica"]
